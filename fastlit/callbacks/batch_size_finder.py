"""``BatchSizeFinder``: find the largest batch size that fits in memory when a run starts."""
from __future__ import annotations

from typing import Any, Optional

from fastlit.callbacks.callback import Callback
from fastlit.trainer import data as data_mod
from fastlit.tuner.batch_size_scaling import scale_batch_size
from fastlit.utilities.exceptions import MisconfigurationException, _TunerExitException
from fastlit.utilities.parsing import lightning_hasattr
from fastlit.utilities.rank_zero import rank_zero_warn

_STAGE_KEY = {"fit": "train", "validate": "val", "test": "test", "predict": "predict"}


class BatchSizeFinder(Callback):
    """Before ``fit`` (or ``validate``/``test``/``predict``) runs, try growing batch sizes for a few steps each
    until one runs out of memory, and continue with the largest that fitted.

    Args:
        mode: ``"power"`` doubles the size until out of memory; ``"binsearch"`` then bisects between the last
            size that worked and the first that failed.
        steps_per_trial: steps (or evaluation batches) run per tried size.
        init_val: first size tried.
        max_trials: most sizes tried.
        batch_arg_name: attribute holding the batch size, looked up on the model, ``model.hparams``, the
            datamodule and ``datamodule.hparams``; the model's ``*_dataloader`` must use it.
        margin: fraction taken off the binsearch result as a safety buffer (0 <= margin < 1).
        max_val: largest size tried.

    Raises:
        ValueError: ``mode`` is not ``"power"`` or ``"binsearch"``.
        MisconfigurationException: the attribute is missing, or the dataloaders were passed to ``trainer.fit``
            directly instead of coming from the model or datamodule.

    The found size is ``optimal_batch_size``. To search at other moments (e.g. when fine-tuning unfreezes a
    backbone), subclass and call ``self.scale_batch_size(trainer, pl_module)`` from another hook; an epoch that is
    already running keeps its dataloader, so the new size applies from the next epoch on. In ``validate``/``test``/
    ``predict`` without the Tuner, the running loop also keeps the dataloaders it built before the search.
    """

    SUPPORTED_MODES = ("power", "binsearch")

    def __init__(self, mode: str = "power", steps_per_trial: int = 3, init_val: int = 2, max_trials: int = 25,
                 batch_arg_name: str = "batch_size", margin: float = 0.05, max_val: int = 8192) -> None:
        mode = mode.lower()
        if mode not in self.SUPPORTED_MODES:
            raise ValueError(f"`mode` should be either of {self.SUPPORTED_MODES}")
        assert 0.0 <= margin < 1.0, f"`margin` should be between 0 and 1. Found {margin=}"
        self.optimal_batch_size: Optional[int] = init_val
        self._mode = mode
        self._steps_per_trial = steps_per_trial
        self._init_val = init_val
        self._max_trials = max_trials
        self._batch_arg_name = batch_arg_name
        self._margin = margin
        self._max_val = max_val
        self._early_exit = False

    def setup(self, trainer: Any, pl_module: Any, stage: Optional[str] = None) -> None:
        key = _STAGE_KEY.get(str(stage), "train")
        method = data_mod._METHOD[key]
        if stage == "fit" and not (data_mod._source_has(trainer.datamodule, method)
                                   or data_mod._source_has(pl_module, method)):
            raise MisconfigurationException(
                "The Batch size finder cannot be used with dataloaders passed directly to `.fit()`. Please disable "
                "the feature or incorporate the dataloader into your LightningModule or LightningDataModule.")
        if stage != "fit":
            loaders = data_mod.as_list(data_mod.resolve(key, None, trainer.datamodule, pl_module))
            if len(loaders) > 1:
                raise MisconfigurationException(
                    f"The Batch size finder cannot be used with multiple {key} dataloaders.")
        if not lightning_hasattr(pl_module, self._batch_arg_name):
            raise MisconfigurationException(
                f"Field {self._batch_arg_name} not found in `model`, `datamodule`, nor their `hparams` attributes.")
        if hasattr(pl_module, self._batch_arg_name) and hasattr(pl_module, "hparams") \
                and self._batch_arg_name in pl_module.hparams:
            rank_zero_warn(
                f"Field `model.{self._batch_arg_name}` and `model.hparams.{self._batch_arg_name}` are mutually "
                f"exclusive! `model.{self._batch_arg_name}` will be used as the initial batch size for scaling. If "
                "this is not the intended behavior, please remove either one.")

    def scale_batch_size(self, trainer: Any, pl_module: Any) -> None:
        """Run the search now; store the result in ``optimal_batch_size``."""
        self.optimal_batch_size = scale_batch_size(
            trainer, self._mode, self._steps_per_trial, self._init_val, self._max_trials, self._batch_arg_name,
            self._margin, self._max_val)
        if self._early_exit:
            raise _TunerExitException()

    def on_fit_start(self, trainer: Any, pl_module: Any) -> None:
        self.scale_batch_size(trainer, pl_module)

    def on_validation_start(self, trainer: Any, pl_module: Any) -> None:
        if trainer.sanity_checking or trainer.state.fn != "validate":
            return
        self.scale_batch_size(trainer, pl_module)

    def on_test_start(self, trainer: Any, pl_module: Any) -> None:
        self.scale_batch_size(trainer, pl_module)

    def on_predict_start(self, trainer: Any, pl_module: Any) -> None:
        self.scale_batch_size(trainer, pl_module)
