"""``Tuner``: find a batch size or a learning rate before training (``Tuner(trainer).lr_find(model)``)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, Optional

from fastlit.utilities.exceptions import MisconfigurationException

if TYPE_CHECKING:
    from fastlit.tuner.lr_finder import _LRFinder

_METHODS = ("fit", "validate", "test", "predict")


class Tuner:
    """Tunes a model's batch size or learning rate by running short trials on ``trainer``.

    Args:
        trainer: the Trainer the model will later be trained with (its settings, loggers and callbacks are kept).
    """

    def __init__(self, trainer: Any) -> None:
        self._trainer = trainer

    def scale_batch_size(
        self,
        model: Any,
        train_dataloaders: Any = None,
        val_dataloaders: Any = None,
        dataloaders: Any = None,
        datamodule: Any = None,
        method: Literal["fit", "validate", "test", "predict"] = "fit",
        mode: str = "power",
        steps_per_trial: int = 3,
        init_val: int = 2,
        max_trials: int = 25,
        batch_arg_name: str = "batch_size",
        margin: float = 0.05,
        max_val: int = 8192,
    ) -> Optional[int]:
        """Find the largest batch size that does not run out of memory; set it on the model and return it.

        Args:
            model: the LightningModule; it (or ``model.hparams``, or the datamodule) must have ``batch_arg_name``,
                used by its ``*_dataloader`` methods.
            train_dataloaders, val_dataloaders, dataloaders, datamodule: as for the ``method`` entry point.
            method: which entry point's loop to try (``"fit"``, ``"validate"``, ``"test"``, ``"predict"``).
            mode: ``"power"`` (double until out of memory) or ``"binsearch"`` (then bisect).
            steps_per_trial: steps (or eval batches) per tried size.
            init_val: first size tried.
            max_trials: most sizes tried.
            batch_arg_name: the attribute holding the batch size.
            margin: fraction taken off the binsearch result as a safety buffer.
            max_val: largest size tried.
        """
        _check_tuner_configuration(train_dataloaders, val_dataloaders, dataloaders, method)
        from fastlit.callbacks.batch_size_finder import BatchSizeFinder

        if any(isinstance(cb, BatchSizeFinder) for cb in self._trainer.callbacks):
            raise ValueError("Trainer is already configured with a `BatchSizeFinder` callback.Please remove it if you "
                             "want to use the Tuner.")
        assert 0.0 <= margin < 1.0, f"`margin` should be between 0 and 1. Found {margin=}"
        finder = BatchSizeFinder(mode=mode, steps_per_trial=steps_per_trial, init_val=init_val,
                                 max_trials=max_trials, batch_arg_name=batch_arg_name, margin=margin,
                                 max_val=max_val)
        finder._early_exit = True  # stop the entry point once the size is found
        self._run(finder, model, method, train_dataloaders, val_dataloaders, dataloaders, datamodule)
        return finder.optimal_batch_size

    def lr_find(
        self,
        model: Any,
        train_dataloaders: Any = None,
        val_dataloaders: Any = None,
        dataloaders: Any = None,
        datamodule: Any = None,
        method: Literal["fit", "validate", "test", "predict"] = "fit",
        min_lr: float = 1e-8,
        max_lr: float = 1,
        num_training: int = 100,
        mode: str = "exponential",
        early_stop_threshold: Optional[float] = 4.0,
        update_attr: bool = True,
        attr_name: str = "",
    ) -> Optional["_LRFinder"]:
        """Run an LR range test and return its result (``.results``, ``.suggestion()``, ``.plot()``).

        Args:
            model: the LightningModule (with an ``lr``/``learning_rate`` attribute when ``update_attr``).
            train_dataloaders, val_dataloaders, datamodule: as for ``Trainer.fit``.
            dataloaders: must be None (the range test trains).
            method: must be ``"fit"``.
            min_lr, max_lr: the LR range.
            num_training: steps (LRs) tried.
            mode: ``"exponential"`` or ``"linear"`` LR growth.
            early_stop_threshold: stop when the loss exceeds this multiple of the best loss; None never stops.
            update_attr: set the suggested LR on the model's ``lr``/``learning_rate`` (or ``attr_name``).
            attr_name: the attribute holding the LR, when not ``lr``/``learning_rate``.

        Raises:
            MisconfigurationException: ``method`` is not ``"fit"``; more than one optimizer.
            AttributeError: ``update_attr`` and no LR attribute was found.
        """
        if method != "fit":
            raise MisconfigurationException("method='fit' is the only valid configuration to run lr finder.")
        _check_tuner_configuration(train_dataloaders, val_dataloaders, dataloaders, method)
        from fastlit.callbacks.lr_finder import LearningRateFinder

        if any(isinstance(cb, LearningRateFinder) for cb in self._trainer.callbacks):
            raise ValueError("Trainer is already configured with a `LearningRateFinder` callback.Please remove it if "
                             "you want to use the Tuner.")
        finder = LearningRateFinder(min_lr=min_lr, max_lr=max_lr, num_training_steps=num_training, mode=mode,
                                    early_stop_threshold=early_stop_threshold, update_attr=update_attr,
                                    attr_name=attr_name)
        finder._early_exit = True
        self._run(finder, model, "fit", train_dataloaders, val_dataloaders, None, datamodule)
        return finder.optimal_lr

    def _run(self, finder: Any, model: Any, method: str, train_dataloaders: Any, val_dataloaders: Any,
             dataloaders: Any, datamodule: Any) -> None:
        trainer = self._trainer
        trainer.callbacks = [finder] + trainer.callbacks  # first, so it runs before the other on_fit_start hooks
        try:
            if method == "fit":
                trainer.fit(model, train_dataloaders, val_dataloaders, datamodule)
            elif method == "validate":
                trainer.validate(model, dataloaders, datamodule=datamodule)
            elif method == "test":
                trainer.test(model, dataloaders, datamodule=datamodule)
            else:
                trainer.predict(model, dataloaders, datamodule=datamodule)
        finally:
            trainer.callbacks = [cb for cb in trainer.callbacks if cb is not finder]


def _check_tuner_configuration(train_dataloaders: Any = None, val_dataloaders: Any = None, dataloaders: Any = None,
                               method: str = "fit") -> None:
    if method not in _METHODS:
        raise ValueError(f"method {method!r} is invalid. Should be one of {_METHODS}.")
    if method == "fit":
        if dataloaders is not None:
            raise MisconfigurationException(
                f"In tuner with method={method!r}, `dataloaders` argument should be None, please consider setting "
                "`train_dataloaders` and `val_dataloaders` instead.")
    elif train_dataloaders is not None or val_dataloaders is not None:
        raise MisconfigurationException(
            f"In tuner with `method`={method!r}, `train_dataloaders` and `val_dataloaders` arguments should be None, "
            "please consider setting `dataloaders` instead.")


def _legacy_tune(trainer: Any, model: Any, train_dataloaders: Any = None, val_dataloaders: Any = None,
                 dataloaders: Any = None, datamodule: Any = None, scale_batch_size_kwargs: Optional[dict] = None,
                 lr_find_kwargs: Optional[dict] = None, method: str = "fit") -> dict[str, Any]:
    """Lightning 1.x's ``trainer.tune(model)``: run what ``Trainer(auto_scale_batch_size=..., auto_lr_find=...)``
    asked for through ``Tuner``, batch size first; return ``{"scale_batch_size": ..., "lr_find": ...}``."""
    import warnings

    warnings.warn("`trainer.tune()` was removed in Lightning 2.0; fastlit runs it through "
                  "`Tuner(trainer).scale_batch_size(model, mode=...)` / `Tuner(trainer).lr_find(model)`. Use those "
                  "instead.", DeprecationWarning, stacklevel=3)
    flags = getattr(trainer, "_legacy_tune", {})
    tuner = Tuner(trainer)
    result: dict[str, Any] = {}
    mode = flags.get("auto_scale_batch_size")
    if mode:
        kwargs = dict(scale_batch_size_kwargs or {})
        kwargs.setdefault("mode", "power" if mode is True else mode)
        result["scale_batch_size"] = tuner.scale_batch_size(model, train_dataloaders, val_dataloaders, dataloaders,
                                                            datamodule, method=method, **kwargs)
    lr = flags.get("auto_lr_find")
    if lr:
        kwargs = dict(lr_find_kwargs or {})
        if isinstance(lr, str):
            kwargs.setdefault("attr_name", lr)
        result["lr_find"] = tuner.lr_find(model, train_dataloaders, val_dataloaders, datamodule=datamodule, **kwargs)
    return result


# Names Lightning's module also exports, imported on first use (see fastlit._reexport).
from fastlit._reexport import lazy_exports  # noqa: E402

__getattr__ = lazy_exports(__name__, {
    "Callback": "fastlit.callbacks.callback",
})
