"""Ctrl-C (a ``KeyboardInterrupt`` out of any hook) ends ``fit`` as in Lightning 2.6.6 (issue #14, cluster 15):
callbacks, the DataModule and the loggers are told (``on_exception``, ``finalize("failed")``), the trainer is
``interrupted``, and the call exits with ``SystemExit(1)`` rather than re-raising the ``KeyboardInterrupt``.
Other exceptions still propagate unchanged. The SIGINT handler in place before ``fit`` is in place after it.
"""
from __future__ import annotations

import signal

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

import fastlit

try:
    import pytorch_lightning as _lightning
except ImportError:
    _lightning = None

FRAMEWORKS = [fastlit] + ([_lightning] if _lightning is not None else [])


def _run(pl, exc_type, where="on_train_batch_start"):
    events = []

    class Model(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.layer = torch.nn.Linear(2, 1)

        def training_step(self, batch, batch_idx):
            return self.layer(batch[0]).sum()

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)

    class Raise(pl.Callback):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            if where == "on_train_batch_start" and batch_idx == 1:
                raise exc_type("stop")

        def on_fit_start(self, trainer, pl_module):
            if where == "on_fit_start":
                raise exc_type("stop")

        def on_exception(self, trainer, pl_module, exception):
            events.append(("callback", type(exception).__name__))

    class DM(pl.LightningDataModule):
        def train_dataloader(self):
            return DataLoader(TensorDataset(torch.randn(8, 2)), batch_size=2)

        def on_exception(self, exception):
            events.append(("datamodule", type(exception).__name__))

    trainer = pl.Trainer(max_epochs=1, logger=False, enable_progress_bar=False, enable_model_summary=False,
                         enable_checkpointing=False, callbacks=[Raise()])
    outcome = None
    try:
        trainer.fit(Model(), datamodule=DM())
    except SystemExit as e:
        outcome = ("SystemExit", e.code)
    except BaseException as e:  # noqa: BLE001 - what escapes is what we compare
        outcome = (type(e).__name__, str(e))
    return outcome, events, trainer.interrupted, trainer.global_step


@pytest.mark.parametrize("where", ["on_train_batch_start", "on_fit_start"])
@pytest.mark.parametrize("pl", FRAMEWORKS, ids=lambda m: m.__name__)
def test_keyboard_interrupt_exits_1(pl, where):
    before = signal.getsignal(signal.SIGINT)
    outcome, events, interrupted, _ = _run(pl, KeyboardInterrupt, where)
    assert outcome == ("SystemExit", 1)
    assert interrupted
    assert events == [("callback", "KeyboardInterrupt"), ("datamodule", "KeyboardInterrupt")]
    if pl is fastlit:  # (Lightning leaves SIGINT ignored after the shutdown)
        assert signal.getsignal(signal.SIGINT) is before
    else:
        signal.signal(signal.SIGINT, before)


@pytest.mark.parametrize("pl", FRAMEWORKS, ids=lambda m: m.__name__)
def test_other_exceptions_propagate(pl):
    outcome, events, interrupted, _ = _run(pl, RuntimeError)
    assert outcome == ("RuntimeError", "stop")
    assert interrupted
    assert events == [("callback", "RuntimeError"), ("datamodule", "RuntimeError")]


@pytest.mark.skipif(_lightning is None, reason="pytorch_lightning not installed")
@pytest.mark.parametrize("exc", [KeyboardInterrupt, RuntimeError])
def test_same_as_lightning(exc):
    before = signal.getsignal(signal.SIGINT)
    try:
        assert _run(fastlit, exc) == _run(_lightning, exc)
    finally:
        signal.signal(signal.SIGINT, before)
