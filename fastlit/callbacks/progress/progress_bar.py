"""``ProgressBar``: base class of progress-bar callbacks (batch totals, descriptions, metrics to show)."""
from __future__ import annotations

from typing import Any, Optional, Union

from torch import Tensor

from fastlit.callbacks.callback import Callback
from fastlit.utilities.rank_zero import rank_zero_warn


class ProgressBar(Callback):
    """Base class for progress bars: subclass it, implement ``enable``/``disable`` and the hooks you need.

    Args: none. ``self.trainer`` is set in ``setup``; on ranks other than 0 the bar disables itself there.
    """

    def __init__(self) -> None:
        self._trainer: Optional[Any] = None
        self._current_eval_dataloader_idx: Optional[int] = None

    @property
    def trainer(self) -> Any:
        if self._trainer is None:
            raise TypeError(f"The `{self.__class__.__name__}._trainer` reference has not been set yet.")
        return self._trainer

    @property
    def sanity_check_description(self) -> str:
        return "Sanity Checking"

    @property
    def train_description(self) -> str:
        return "Training"

    @property
    def validation_description(self) -> str:
        return "Validation"

    @property
    def test_description(self) -> str:
        return "Testing"

    @property
    def predict_description(self) -> str:
        return "Predicting"

    @property
    def total_train_batches(self) -> Union[int, float]:
        """Training batches this epoch (``inf`` if unknown); capped by the steps left when only ``max_steps``
        bounds the run."""
        trainer = self.trainer
        if trainer.max_epochs == -1 and trainer.max_steps is not None and trainer.max_steps > 0:
            return min(trainer.num_training_batches, trainer.max_steps - trainer.global_step)
        return trainer.num_training_batches

    def _current(self, batches: Union[int, float, list]) -> Union[int, float]:
        if isinstance(batches, list):
            assert self._current_eval_dataloader_idx is not None
            return batches[self._current_eval_dataloader_idx]
        return batches

    @property
    def total_val_batches_current_dataloader(self) -> Union[int, float]:
        trainer = self.trainer
        return self._current(trainer.num_sanity_val_batches if trainer.sanity_checking else trainer.num_val_batches)

    @property
    def total_test_batches_current_dataloader(self) -> Union[int, float]:
        return self._current(self.trainer.num_test_batches)

    @property
    def total_predict_batches_current_dataloader(self) -> Union[int, float]:
        return self._current(self.trainer.num_predict_batches)

    @property
    def total_val_batches(self) -> Union[int, float]:
        """Validation batches over all val dataloaders if validation runs this epoch, else 0."""
        trainer = self.trainer
        if not _should_check_val_epoch(trainer):
            return 0
        batches = trainer.num_val_batches
        return sum(batches) if isinstance(batches, list) else batches

    def has_dataloader_changed(self, dataloader_idx: int) -> bool:
        changed = self._current_eval_dataloader_idx != dataloader_idx
        self._current_eval_dataloader_idx = dataloader_idx
        return changed

    def reset_dataloader_idx_tracker(self) -> None:
        self._current_eval_dataloader_idx = None

    def disable(self) -> None:
        """Turn the bar off (called on non-zero ranks)."""
        raise NotImplementedError

    def enable(self) -> None:
        """Turn the bar back on."""
        raise NotImplementedError

    def print(self, *args: Any, **kwargs: Any) -> None:
        """Print without breaking the bar."""
        print(*args, **kwargs)

    def setup(self, trainer: Any, pl_module: Any, stage: str) -> None:
        self._trainer = trainer
        if not trainer.is_global_zero:
            self.disable()

    def get_metrics(self, trainer: Any, pl_module: Any) -> dict[str, Union[int, str, float, dict[str, float]]]:
        """What the bar shows after the counts: ``v_num`` (logger version) and the ``prog_bar=True`` metrics.

        Override to change it, e.g. ``items = super().get_metrics(trainer, model); items.pop("v_num", None)``.
        Called only when the bar refreshes; tensor values are turned into Python numbers here.
        """
        standard = get_standard_metrics(trainer)
        pbar = trainer.progress_bar_metrics
        duplicates = [k for k in standard if k in pbar]
        if duplicates:
            rank_zero_warn(
                f"The progress bar already tracks a metric with the name(s) '{', '.join(duplicates)}' and"
                f" `self.log('{duplicates[0]}', ..., prog_bar=True)` will overwrite this value. "
                " If this is undesired, change the name or override `get_metrics()` in the progress bar callback.",
            )
        return {**standard, **{k: _to_scalar(v) for k, v in pbar.items()}}


def _to_scalar(value: Any) -> Any:
    # one-element tensors become Python numbers (a device sync, paid only on refresh)
    if isinstance(value, Tensor) and value.numel() == 1:
        return value.item()
    return value


def _should_check_val_epoch(trainer: Any) -> bool:
    epoch_loop = getattr(getattr(trainer, "fit_loop", None), "epoch_loop", None)
    check = getattr(epoch_loop, "_should_check_val_epoch", None)
    if check is not None:
        return check()
    every = getattr(trainer, "check_val_every_n_epoch", 1)
    return bool(getattr(trainer, "enable_validation", True)) and (
        every is None or (trainer.current_epoch + 1) % every == 0)


def _version(loggers: list[Any], separator: str = "_") -> Union[int, str]:
    if len(loggers) == 1:
        return loggers[0].version
    # several loggers: their distinct versions, in order
    return separator.join(dict.fromkeys(str(logger.version) for logger in loggers))


def get_standard_metrics(trainer: Any) -> dict[str, Union[int, str]]:
    """``{"v_num": <logger version>}`` when there is a logger with a version (long strings: last 4 chars)."""
    items: dict[str, Union[int, str]] = {}
    if trainer.loggers:
        version = _version(trainer.loggers)
        if version not in ("", None):
            items["v_num"] = version[-4:] if isinstance(version, str) else version
    return items
