"""``self.log`` refuses what Lightning 2.6.6 refuses, with the same exception type and key text (issue #14,
cluster 4): values that are not numbers/tensors/metrics (ValueError "`<type>` values cannot be logged", nested
dicts), tensors of more than one element (ValueError), ``on_step=False, on_epoch=False`` ("is not useful"),
levels a hook does not allow, hooks that may not log at all ("You can't ..."); ``reduce_fx`` names are
case-insensitive and "avg" means mean. Each case runs under fastlit and, when installed, ``pytorch_lightning``.
"""
from __future__ import annotations

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

import fastlit

try:
    import pytorch_lightning as _lightning
except ImportError:
    _lightning = None

FRAMEWORKS = [fastlit] + ([_lightning] if _lightning is not None else [])


def _fit(pl, hook, log_kwargs, value=1.0, name="x", n_batches=4):
    """Fit a tiny model that calls ``self.log(name, value, **log_kwargs)`` in ``hook``; returns callback_metrics."""

    class Model(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.layer = torch.nn.Linear(2, 1)

        def training_step(self, batch, batch_idx):
            if hook == "training_step":
                v = value(batch_idx) if callable(value) else value
                self.log(name, v, **log_kwargs)
            return self.layer(batch[0]).sum()

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.01)

    def hook_fn(self, *args, **kwargs):
        self.log(name, value, **log_kwargs)

    if hook != "training_step":
        setattr(Model, hook, hook_fn)
    model = Model()
    trainer = pl.Trainer(max_epochs=1, logger=False, enable_progress_bar=False, enable_model_summary=False,
                         enable_checkpointing=False, limit_val_batches=0, num_sanity_val_steps=0)
    trainer.fit(model, DataLoader(TensorDataset(torch.randn(n_batches * 2, 2)), batch_size=2))
    return trainer.callback_metrics


BAD_VALUES = [([1, 2], r"`list` values cannot be logged"), ("abc", r"`str` values cannot be logged"),
              ({"a": {"b": 1}}, r"nested dictionaries cannot be logged"),
              (torch.ones(3), r"tensor must have a single element")]


@pytest.mark.parametrize("value,match", BAD_VALUES, ids=["list", "str", "nested", "vector"])
@pytest.mark.parametrize("pl", FRAMEWORKS, ids=lambda m: m.__name__)
def test_bad_values_raise_value_error(pl, value, match):
    with pytest.raises(ValueError, match=match):
        _fit(pl, "training_step", {}, value=value)


@pytest.mark.parametrize("pl", FRAMEWORKS, ids=lambda m: m.__name__)
def test_bad_value_without_trainer_raises(pl):
    class Model(pl.LightningModule):
        pass

    with pytest.raises(ValueError, match=r"`list` values cannot be logged"):
        Model().log("x", [1])


@pytest.mark.parametrize("hook", ["training_step", "on_train_batch_end"])
@pytest.mark.parametrize("pl", FRAMEWORKS, ids=lambda m: m.__name__)
def test_neither_step_nor_epoch_is_not_useful(pl, hook):
    with pytest.raises(pl.utilities.exceptions.MisconfigurationException, match="is not useful"):
        _fit(pl, hook, {"on_step": False, "on_epoch": False})


@pytest.mark.parametrize("hook,kwargs,match", [
    ("on_train_epoch_end", {"on_step": True}, r"You can't `self.log\(on_step=True\)` inside `on_train_epoch_end`, "
                                              r"must be one of \(False,\)"),
    ("on_train_start", {"on_epoch": False}, r"You can't `self.log\(on_epoch=False\)` inside `on_train_start`"),
    ("on_fit_start", {}, r"You can't `self.log\(\)` inside `on_fit_start`"),
    ("on_train_end", {}, r"You can't `self.log\(\)` inside `on_train_end`"),
    ("lr_scheduler_step", {}, None),  # not called without a scheduler: no error
])
@pytest.mark.parametrize("pl", FRAMEWORKS, ids=lambda m: m.__name__)
def test_hook_levels(pl, hook, kwargs, match):
    if match is None:
        _fit(pl, hook, kwargs)
        return
    with pytest.raises(pl.utilities.exceptions.MisconfigurationException, match=match):
        _fit(pl, hook, kwargs)


@pytest.mark.parametrize("reduce_fx,expected", [("avg", 1.5), ("AVG", 1.5), ("Mean", 1.5), ("SUM", 6.0),
                                                ("Max", 3.0), ("MIN", 0.0)])
@pytest.mark.parametrize("pl", FRAMEWORKS, ids=lambda m: m.__name__)
def test_reduce_fx_names_case_insensitive(pl, reduce_fx, expected):
    metrics = _fit(pl, "training_step", {"on_step": False, "on_epoch": True, "reduce_fx": reduce_fx},
                   value=lambda i: float(i))
    assert float(metrics["x"]) == pytest.approx(expected)


@pytest.mark.parametrize("pl", FRAMEWORKS, ids=lambda m: m.__name__)
def test_unknown_reduce_fx(pl):
    with pytest.raises(pl.utilities.exceptions.MisconfigurationException,
                       match=r"reduce_fx={min,max,mean,sum}\)` are supported"):
        _fit(pl, "training_step", {"reduce_fx": "median"})
