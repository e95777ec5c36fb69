"""RichModelSummary: the same rich table and totals (text and styles) as Lightning 2.6.6's, printed on rich's
console when fit starts."""
from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import fastlit
from fastlit.callbacks import ModelSummary, RichModelSummary

rich = pytest.importorskip("rich")


@pytest.fixture(autouse=True)
def _recording_console():
    rich.reconfigure(record=True, width=160, color_system="truecolor", force_terminal=True)
    yield
    rich.reconfigure()


def _net(pl: Any, example: bool) -> Any:
    class Net(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.net = nn.Sequential(nn.Linear(8, 16), nn.BatchNorm1d(16), nn.Sequential(nn.ReLU(), nn.Linear(16, 1)))
            self.frozen = nn.Linear(1, 1)
            self.frozen.requires_grad_(False)
            self.frozen.eval()
            if example:
                self.example_input_array = torch.zeros(4, 8)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.frozen(self.net(x))

        def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
            return self(batch[0]).pow(2).mean()

        def configure_optimizers(self) -> Any:
            return torch.optim.SGD(self.parameters(), lr=0.1)

    return Net()


def _printed(pl: Any, tmp_path: Any, example: bool, **summary_kwargs: Any) -> str:
    torch.manual_seed(0)
    trainer = pl.Trainer(max_epochs=1, limit_train_batches=1, callbacks=[pl.callbacks.RichModelSummary(**summary_kwargs)],
                         enable_progress_bar=False, logger=False, enable_checkpointing=False, default_root_dir=tmp_path)
    rich.get_console().export_text()  # drop anything recorded before fit
    trainer.fit(_net(pl, example), DataLoader(TensorDataset(torch.randn(8, 8)), batch_size=4))
    return rich.get_console().export_text(styles=True)


@pytest.mark.parametrize(("example", "summary_kwargs"), [
    (True, {}),
    (False, {"max_depth": -1}),
    (True, {"max_depth": 2, "header_style": "bold green"}),
    (True, {"max_depth": 0}),
])
def test_table_and_totals_match_lightning(tmp_path: Any, lightning: Any, example: bool, summary_kwargs: dict) -> None:
    theirs = _printed(lightning, tmp_path / "pl", example, **summary_kwargs)
    ours = _printed(fastlit, tmp_path / "fl", example, **summary_kwargs)
    assert ours == theirs
    if summary_kwargs.get("max_depth") == 0:
        assert ours == ""
        return
    assert "Trainable params" in ours and "Modules in eval mode" in ours and "Total FLOPs" in ours
    assert ("In sizes" in ours) is example
    assert ("net.0" in ours) is (summary_kwargs.get("max_depth", 1) != 1)  # submodules listed


def test_is_a_model_summary_and_keeps_its_arguments() -> None:
    cb = RichModelSummary(max_depth=3, header_style="red")
    assert isinstance(cb, ModelSummary)
    assert cb._max_depth == 3 and cb._summarize_kwargs == {"header_style": "red"}
    assert RichModelSummary()._max_depth == 1


def test_a_user_summary_replaces_the_default_one(tmp_path: Any) -> None:
    trainer = fastlit.Trainer(callbacks=[RichModelSummary()], logger=False, default_root_dir=tmp_path)
    summaries = [c for c in trainer.callbacks if isinstance(c, ModelSummary)]
    assert len(summaries) == 1 and isinstance(summaries[0], RichModelSummary)
