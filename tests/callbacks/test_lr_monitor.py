"""LearningRateMonitor: the metrics.csv it produces (keys, steps, values) is Lightning's, for every naming case."""
from __future__ import annotations

import os
import warnings
from collections import defaultdict
from typing import Any

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

import fastlit
from fastlit.callbacks import LearningRateMonitor
from fastlit.utilities.exceptions import MisconfigurationException


def _data() -> DataLoader:
    g = torch.Generator().manual_seed(0)
    return DataLoader(TensorDataset(torch.randn(20, 4, generator=g), torch.randn(20, 1, generator=g)), batch_size=4)


def _optimizers(variant: str, module: torch.nn.Module) -> Any:
    p = list(module.parameters())
    if variant == "adam_step":
        opt = torch.optim.Adam(p, lr=0.1)
        return [opt], [{"scheduler": torch.optim.lr_scheduler.StepLR(opt, 2, 0.5), "interval": "step"}]
    if variant == "sgd_epoch_groups":  # two named param groups, epoch scheduler
        opt = torch.optim.SGD([{"params": p[:1], "name": "weights"}, {"params": p[1:], "lr": 0.01, "name": "bias"}],
                              lr=0.1, momentum=0.5, weight_decay=1e-4)
        return [opt], [torch.optim.lr_scheduler.ExponentialLR(opt, 0.5)]
    if variant == "named_scheduler":
        opt = torch.optim.AdamW(p, lr=0.02)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": torch.optim.lr_scheduler.StepLR(opt, 1, 0.1),
                                                   "name": "my_lr", "interval": "epoch"}}
    if variant == "unnamed_groups":  # several groups without names -> /pg1, /pg2
        opt = torch.optim.SGD([{"params": p[:1]}, {"params": p[1:], "lr": 0.3}], lr=0.1)
        return opt
    if variant == "two_adams":  # manual optimization, same class twice -> lr-Adam, lr-Adam-1
        return [torch.optim.Adam(p[:1], lr=0.1), torch.optim.Adam(p[1:], lr=0.2)]
    raise ValueError(variant)


def _fit(pl: Any, root: str, variant: str, **monitor_kw: Any) -> tuple[str, dict[str, float], dict]:
    torch.manual_seed(0)

    class Model(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.layer = torch.nn.Linear(4, 1)
            self.automatic_optimization = variant != "two_adams"

        def training_step(self, batch: Any, batch_idx: int) -> Any:
            x, y = batch
            loss = torch.nn.functional.mse_loss(self.layer(x), y)
            if self.automatic_optimization:
                return loss
            for opt in self.optimizers():
                opt.zero_grad()
            self.manual_backward(loss)
            for opt in self.optimizers():
                opt.step()
            return None

        def configure_optimizers(self) -> Any:
            return _optimizers(variant, self)

    monitor = pl.callbacks.LearningRateMonitor(**monitor_kw)
    logger = pl.loggers.CSVLogger(root)
    trainer = pl.Trainer(max_epochs=3, logger=logger, log_every_n_steps=2, enable_progress_bar=False,
                         enable_model_summary=False, enable_checkpointing=False, callbacks=[monitor])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer.fit(Model(), _data())
    with open(os.path.join(logger.log_dir, "metrics.csv")) as f:
        text = f.read()
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith(("lr", "my_lr"))}
    return text, metrics, monitor.lrs


CASES = [
    ("adam_step", dict(log_momentum=True, log_weight_decay=True)),
    ("adam_step", dict(logging_interval="epoch")),
    ("sgd_epoch_groups", dict(log_momentum=True, log_weight_decay=True)),
    ("sgd_epoch_groups", dict(logging_interval="step")),
    ("named_scheduler", dict()),
    ("unnamed_groups", dict(logging_interval="step")),
    ("two_adams", dict(log_momentum=True)),
]


@pytest.mark.parametrize(("variant", "kw"), CASES, ids=[f"{v}-{'-'.join(k) or 'default'}" for v, k in CASES])
def test_metrics_csv_matches_lightning(tmp_path, lightning, variant, kw):
    ours = _fit(fastlit, str(tmp_path / "fastlit"), variant, **kw)
    theirs = _fit(lightning, str(tmp_path / "lightning"), variant, **kw)
    assert ours[0] == theirs[0]  # same columns, rows, steps and values
    assert ours[0].count("\n") > 2  # and something was logged
    assert ours[1] == pytest.approx(theirs[1])  # callback_metrics carry the last values
    assert ours[2] == theirs[2]  # monitor.lrs history


def test_expected_keys_are_lightnings_names(tmp_path):
    text, _, lrs = _fit(fastlit, str(tmp_path), "sgd_epoch_groups", log_momentum=True)
    header = text.splitlines()[0].split(",")
    assert "lr-SGD/weights" in header and "lr-SGD/bias" in header and "lr-SGD/weights-momentum" in header
    # epoch scheduler: one value per epoch, halving each time
    assert lrs["lr-SGD/weights"] == [0.1, 0.05, 0.025]


def test_no_logger_raises():
    from fastlit.demos import BoringModel

    trainer = fastlit.Trainer(logger=False, max_steps=1, enable_progress_bar=False, enable_model_summary=False,
                              enable_checkpointing=False, callbacks=[LearningRateMonitor()])
    with pytest.raises(MisconfigurationException, match="has no logger"):
        trainer.fit(BoringModel())


def test_bad_interval_and_duplicate_group_names(tmp_path):
    with pytest.raises(MisconfigurationException, match="logging_interval should be"):
        LearningRateMonitor(logging_interval="batch")
    lin = torch.nn.Linear(2, 1)
    opt = torch.optim.SGD([{"params": [lin.weight], "name": "a"}, {"params": [lin.bias], "name": "a"}], lr=0.1)
    with pytest.raises(MisconfigurationException, match="duplicated parameter group names"):
        LearningRateMonitor()._names_from_optimizers([opt], [], defaultdict(int))
