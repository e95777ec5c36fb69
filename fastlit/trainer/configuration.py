"""Trainer set-up done once per Trainer or per run: the logger list and the callback list (Lightning's defaults
and rules). Functions of their inputs: the Trainer stores what they return (the hook table is in hooks.py)."""
from __future__ import annotations

from typing import Any, Iterable, Optional

from fastlit.callbacks.callback import Callback
from fastlit.core.module import LightningModule
from fastlit.utilities.exceptions import MisconfigurationException
from fastlit.utilities.rank_zero import rank_zero_info


def configure_loggers(logger: Any, root_dir: str) -> list[Any]:
    """The loggers ``Trainer(logger=...)`` asks for (``"dummy"``: a DummyLogger, for fast_dev_run)."""
    if logger == "dummy":
        from fastlit.loggers.logger import DummyLogger

        return [DummyLogger()]
    if logger is None or logger is True:
        try:
            import tensorboard  # noqa: F401  (only to know whether it is installed)
            from fastlit.loggers.tensorboard import TensorBoardLogger

            return [TensorBoardLogger(save_dir=root_dir)]
        except ImportError:
            from fastlit.loggers.csv_logs import CSVLogger

            return [CSVLogger(save_dir=root_dir)]
    if logger is False:
        return []
    if isinstance(logger, Iterable) and not isinstance(logger, (str, bytes)):
        return list(logger)
    return [logger]


def configure_callbacks(callbacks: Any, *, checkpointing: bool, model_summary: bool, progress_bar: bool,
                        max_time: Optional[Any]) -> list[Callback]:
    """``Trainer(callbacks=...)`` checked, plus the default callbacks the other arguments ask for."""
    from fastlit.callbacks.checkpoint import Checkpoint
    from fastlit.callbacks.model_checkpoint import ModelCheckpoint
    from fastlit.callbacks.model_summary import ModelSummary
    from fastlit.callbacks.progress.progress_bar import ProgressBar
    from fastlit.callbacks.progress.tqdm_progress import TQDMProgressBar

    cbs = list(callbacks) if isinstance(callbacks, (list, tuple)) else ([callbacks] if callbacks else [])
    for cb in cbs:
        if not isinstance(cb, Callback):
            raise TypeError(f"Trainer(callbacks=...): {cb!r} is not a `fastlit.Callback`; callbacks must "
                            "subclass `fastlit.Callback` (`pytorch_lightning.Callback` under fastlit).")
    if not checkpointing and any(isinstance(c, Checkpoint) for c in cbs):
        raise MisconfigurationException(
            "Trainer was configured with `enable_checkpointing=False` but found `ModelCheckpoint` in callbacks list.")
    if model_summary and not any(isinstance(c, ModelSummary) for c in cbs):
        cbs.append(ModelSummary())
    if progress_bar and not any(isinstance(c, ProgressBar) for c in cbs):
        cbs.append(TQDMProgressBar())
    if not progress_bar and any(isinstance(c, ProgressBar) for c in cbs):
        raise MisconfigurationException(
            "Trainer was configured with `enable_progress_bar=False` but found a progress bar in callbacks list.")
    if checkpointing and not any(isinstance(c, Checkpoint) for c in cbs):
        cbs.append(ModelCheckpoint())
    if max_time is not None:  # Lightning implements max_time with a Timer callback (saved in checkpoints)
        from fastlit.callbacks.timer import Timer

        if any(isinstance(c, Timer) for c in cbs):
            rank_zero_info("Ignoring `Trainer(max_time=...)`, callbacks list already contains a Timer.")
        else:
            cbs.append(Timer(duration=max_time, interval="step"))
    return _checkpoints_last(cbs)


def with_model_callbacks(callbacks: list[Callback], model: LightningModule) -> list[Callback]:
    """``callbacks`` plus ``model.configure_callbacks()``; each replaces the callbacks of the same type."""
    extra = model.configure_callbacks()
    if not extra:
        return callbacks
    extra = list(extra) if isinstance(extra, (list, tuple)) else [extra]
    types_ = {type(c) for c in extra}
    return _checkpoints_last([c for c in callbacks if type(c) not in types_] + extra)


def _checkpoints_last(cbs: list[Callback]) -> list[Callback]:
    """Checkpoint callbacks run last so they see everything the others logged (Lightning's order)."""
    from fastlit.callbacks.checkpoint import Checkpoint

    return [c for c in cbs if not isinstance(c, Checkpoint)] + [c for c in cbs if isinstance(c, Checkpoint)]
