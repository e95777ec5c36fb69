"""What a callback sees in ``trainer.callback_metrics`` / ``logged_metrics`` / ``progress_bar_metrics`` at each
point of a fit (EarlyStopping, ModelCheckpoint and progress bars read them there), and logging from hooks and
callbacks, compared with Lightning."""
from __future__ import annotations

from typing import Any

import pytest
import torch

import fastlit
from helpers import models, quiet, randn_loader

pl_lightning = pytest.importorskip("pytorch_lightning")


def _snap(d: dict) -> dict:
    return {k: round(float(v), 5) for k, v in d.items()}


def _run(pl: Any) -> list:
    seen: list = []

    class Spy(pl.Callback):
        def _take(self, where: str, trainer: Any) -> None:
            seen.append((where, _snap(trainer.callback_metrics), _snap(trainer.logged_metrics),
                         _snap(trainer.progress_bar_metrics)))

        def on_train_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
            pl_module.log("cb_batch", float(batch_idx), on_step=True, on_epoch=True)
            self._take(f"train_batch_end {batch_idx}", trainer)

        def on_validation_batch_end(self, trainer: Any, pl_module: Any, *args: Any) -> None:
            self._take("val_batch_end", trainer)

        def on_validation_end(self, trainer: Any, pl_module: Any) -> None:
            self._take("validation_end", trainer)

        def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
            self._take("train_epoch_end", trainer)

        def on_train_end(self, trainer: Any, pl_module: Any) -> None:
            self._take("train_end", trainer)

    class M(models(pl).BoringModel):
        def on_train_start(self) -> None:
            self.log("start", 1.0)

        def on_train_epoch_start(self) -> None:
            self.log("epoch_start", float(self.current_epoch))

        def training_step(self, batch: Any, batch_idx: int) -> Any:
            loss = super().training_step(batch, batch_idx)
            self.log("train_loss", loss, prog_bar=True, on_epoch=True)
            return loss

        def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
            self.log("batch_end", outputs["loss"] * 2)

        def on_validation_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
            self.log("val_batch_end", float(batch_idx))

        def on_validation_epoch_end(self) -> None:
            self.log("val_epoch_end", 3.0, prog_bar=True)

    torch.manual_seed(0)
    trainer = pl.Trainer(**quiet(max_epochs=2, logger=False, enable_checkpointing=False, limit_val_batches=2))
    trainer.fit(M(), randn_loader(12), randn_loader(8))
    seen.append(("after_fit", _snap(trainer.callback_metrics), _snap(trainer.logged_metrics),
                 _snap(trainer.progress_bar_metrics)))
    return seen


def test_metrics_seen_by_callbacks_match_lightning() -> None:
    expected, got = _run(pl_lightning), _run(fastlit)
    assert [w for w, *_ in got] == [w for w, *_ in expected]
    for e, g in zip(expected, got):
        for i, what in ((1, "callback_metrics"), (2, "logged_metrics"), (3, "progress_bar_metrics")):
            assert g[i] == e[i], f"{e[0]} {what}:\n lightning {e[i]}\n fastlit   {g[i]}"
