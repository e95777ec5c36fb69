"""Model summary table and the ModelSummary callback, checked against Lightning's output where installed."""
import logging
import warnings
from types import SimpleNamespace

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import fastlit
from fastlit.callbacks import ModelSummary as ModelSummaryCallback
from fastlit.utilities.model_summary import ModelSummary, get_human_readable_count, summarize


class Capture(logging.Handler):
    """Collects the messages of one logger (the fastlit logger does not propagate to pytest's caplog)."""

    def __init__(self, name):
        super().__init__(logging.INFO)
        self.logger, self.messages = logging.getLogger(name), []

    def emit(self, record):
        self.messages.append(record.getMessage())

    def __enter__(self):
        self._level = self.logger.level
        self.logger.addHandler(self)
        self.logger.setLevel(logging.INFO)
        return self

    def __exit__(self, *exc):
        self.logger.removeHandler(self)
        self.logger.setLevel(self._level)


def build(base, example=True, lazy=False):
    """The same architecture on any base class: nested children, frozen eval layer, a root parameter."""

    class Net(base):
        def __init__(self):
            super().__init__()
            self.net = nn.Sequential(nn.Linear(256, 512), nn.BatchNorm1d(512),
                                     nn.Sequential(nn.ReLU(), nn.Linear(512, 10)))
            self.conv = nn.Conv2d(3, 8, 3)  # unused in forward: sizes "?"
            self.frozen = nn.Linear(10, 10)
            self.frozen.requires_grad_(False)
            self.frozen.eval()
            self.lazy = nn.LazyLinear(4) if lazy else nn.Identity()
            self.scale = nn.Parameter(torch.ones(7))  # owned by the root: "other params" row
            if example:
                self.example_input_array = torch.zeros(10, 256)

        def forward(self, x):
            return self.frozen(self.net(x))

    return Net()


def test_table_layout_and_totals():
    text = str(ModelSummary(build(fastlit.LightningModule), max_depth=1))
    lines = text.splitlines()
    assert lines[0].split("|")[1:] == [" Name         ", " Type       ", " Params ", " Mode  ", " FLOPs ",
                                       " In sizes  ", " Out sizes"]
    assert lines[2].startswith("0 | net          | Sequential | 137 K  | train | 2.7 M | [10, 256] | [10, 10]")
    assert "  | other params | n/a" in text
    assert lines[-7:] == [
        "137 K     Trainable params", "110       Non-trainable params", "138 K     Total params",
        "0.552     Total estimated model params size (MB)", "8         Modules in train mode",
        "1         Modules in eval mode", "2.7 M     Total Flops",
    ]


def test_summary_properties():
    s = summarize(build(fastlit.LightningModule, example=False), max_depth=-1)
    assert s.layer_names == ["net", "net.0", "net.1", "net.2", "net.2.0", "net.2.1", "conv", "frozen", "lazy"]
    assert s.total_parameters == 131_584 + 1_024 + 5_130 + 224 + 110 + 7
    assert s.trainable_parameters == s.total_parameters - 110
    assert s.param_nums[:2] == [131_584 + 1_024 + 5_130, 131_584]
    assert s.total_training_modes == {"train": 8, "eval": 1}
    assert s.total_flops == 0 and "In sizes" not in str(s)
    assert summarize(build(fastlit.LightningModule), max_depth=0).layer_names == []
    with pytest.raises(ValueError, match="max_depth"):
        ModelSummary(build(fastlit.LightningModule), max_depth=-2)


def test_example_forward_restores_modes_and_removes_hooks():
    model = build(fastlit.LightningModule)
    model.train()
    ModelSummary(model, max_depth=-1)
    assert model.training and model.net[1].training
    assert all(not m._forward_hooks for m in model.modules())


@pytest.mark.parametrize("number, text", [
    (0, "0  "), (123, "123  "), (1234, "1.2 K"), (54_000, "54.0 K"), (101_000, "101 K"), (2e6, "2.0 M"),
    (3e9, "3.0 B"), (4e14, "400 T"), (5e15, "5,000 T"),
])
def test_human_readable_count(number, text):
    assert get_human_readable_count(number) == text


@pytest.mark.parametrize("example, lazy", [(True, False), (False, False), (False, True)])
@pytest.mark.parametrize("depth", [-1, 0, 1, 2, 3])
def test_same_table_as_lightning(depth, example, lazy):
    pl = pytest.importorskip("pytorch_lightning")
    from pytorch_lightning.utilities.model_summary import ModelSummary as LightningSummary

    model = build(pl.LightningModule, example=example, lazy=lazy)  # one module, summarized by both
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # lazy parameters warn (once per process, in both libraries)
        theirs = str(LightningSummary(model, max_depth=depth))
        ours = str(ModelSummary(model, max_depth=depth))
    assert ours == theirs
    # and our own LightningModule with the same layers prints the same
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = str(ModelSummary(build(fastlit.LightningModule, example=example, lazy=lazy), max_depth=depth))
    assert ours == theirs


def test_callback_logs_the_same_as_lightning():
    pl = pytest.importorskip("pytorch_lightning")
    from pytorch_lightning.callbacks import ModelSummary as LightningCallback

    model = build(pl.LightningModule)
    trainer = SimpleNamespace(is_global_zero=True, strategy=None)
    with Capture("pytorch_lightning.callbacks.model_summary") as theirs:
        LightningCallback(max_depth=2).on_fit_start(trainer, model)
    with Capture("fastlit.callbacks.model_summary") as ours:
        ModelSummaryCallback(max_depth=2).on_fit_start(trainer, model)
    assert len(ours.messages) == 1 and ours.messages == theirs.messages


def test_callback_silent_off_rank_zero_and_at_depth_zero():
    model = build(fastlit.LightningModule)
    with Capture("fastlit.callbacks.model_summary") as cap:
        ModelSummaryCallback().on_fit_start(SimpleNamespace(is_global_zero=False), model)
        ModelSummaryCallback(max_depth=0).on_fit_start(SimpleNamespace(is_global_zero=True), model)
    assert cap.messages == []


class Tiny(fastlit.LightningModule):
    def __init__(self):
        super().__init__()
        self.layer = nn.Linear(4, 2)
        self.example_input_array = torch.zeros(3, 4)

    def forward(self, x):
        return self.layer(x)

    def training_step(self, batch, batch_idx):
        return self(batch[0]).sum()

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def test_trainer_fit_prints_summary(tmp_path):
    data = DataLoader(TensorDataset(torch.randn(8, 4)), batch_size=4)
    with Capture("fastlit.callbacks.model_summary") as cap:
        trainer = fastlit.Trainer(max_epochs=1, default_root_dir=tmp_path, enable_progress_bar=False,
                                  logger=False, enable_checkpointing=False)
        trainer.fit(Tiny(), data)
    assert len(cap.messages) == 1
    table = cap.messages[0]
    assert "0 | layer | Linear | 10     | train | 48    | [3, 4]   | [3, 2]" in table
    assert "10        Total params" in table
    with Capture("fastlit.callbacks.model_summary") as cap:
        trainer = fastlit.Trainer(max_epochs=1, default_root_dir=tmp_path, enable_progress_bar=False,
                                  logger=False, enable_checkpointing=False, enable_model_summary=False)
        trainer.fit(Tiny(), data)
    assert cap.messages == []
