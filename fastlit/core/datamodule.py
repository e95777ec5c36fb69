"""``LightningDataModule`` (``fastlit.DataModule``): the data side of a project in one object."""
from __future__ import annotations

from pathlib import Path
from typing import IO, Any, Optional, Union

from fastlit.core.hooks import DataHooks
from fastlit.core.mixins import HyperparametersMixin
from fastlit.utilities.model_helpers import hook_base


@hook_base
class LightningDataModule(DataHooks, HyperparametersMixin):
    """Groups ``prepare_data``, ``setup(stage)``, ``teardown`` and the ``*_dataloader`` methods.

    Args: whatever your subclass takes (call ``self.save_hyperparameters()`` to keep them in checkpoints).
    """

    name: Optional[str] = None
    CHECKPOINT_HYPER_PARAMS_KEY = "datamodule_hyper_parameters"
    CHECKPOINT_HYPER_PARAMS_NAME = "datamodule_hparams_name"
    CHECKPOINT_HYPER_PARAMS_TYPE = "datamodule_hparams_type"

    def __init__(self) -> None:
        super().__init__()
        self.trainer: Optional[Any] = None

    @classmethod
    def from_datasets(cls, train_dataset: Any = None, val_dataset: Any = None, test_dataset: Any = None,
                      predict_dataset: Any = None, batch_size: int = 1, num_workers: int = 0,
                      **datamodule_kwargs: Any) -> "LightningDataModule":
        """A DataModule whose loaders wrap the given datasets (train shuffled)."""
        from torch.utils.data import DataLoader

        def loader(ds: Any, shuffle: bool = False) -> Any:
            if isinstance(ds, (list, tuple)):
                return [loader(d, shuffle) for d in ds]
            if isinstance(ds, dict):
                return {k: loader(d, shuffle) for k, d in ds.items()}
            return DataLoader(ds, batch_size=batch_size, shuffle=shuffle, num_workers=num_workers)

        dm = cls(**datamodule_kwargs)
        if train_dataset is not None:
            dm.train_dataloader = lambda: loader(train_dataset, shuffle=True)  # type: ignore[method-assign]
        if val_dataset is not None:
            dm.val_dataloader = lambda: loader(val_dataset)  # type: ignore[method-assign]
        if test_dataset is not None:
            dm.test_dataloader = lambda: loader(test_dataset)  # type: ignore[method-assign]
        if predict_dataset is not None:
            dm.predict_dataloader = lambda: loader(predict_dataset)  # type: ignore[method-assign]
        return dm

    def __str__(self) -> str:
        """One line per stage: ``{Train dataloader: size=N}`` (``NA`` for an unsized dataset, ``1. size=N ; 2. ...``
        for several loaders, ``None`` where the method is missing or raises), as Lightning prints it."""
        import os
        from collections.abc import Sized

        from torch.utils.data import DataLoader

        def size(loader: Any) -> str:
            return f"size={len(loader.dataset)}" if isinstance(loader.dataset, Sized) else "size=NA"

        lines = []
        for label, method in (("Train dataloader", "train_dataloader"), ("Validation dataloader", "val_dataloader"),
                              ("Test dataloader", "test_dataloader"), ("Predict dataloader", "predict_dataloader")):
            try:
                loaders = getattr(self, method)()
                if isinstance(loaders, DataLoader):
                    text = size(loaders)
                else:
                    if isinstance(loaders, dict):
                        loaders = list(loaders.values())
                    text = " ; ".join(f"{i}. {size(dl)}" for i, dl in enumerate(loaders, start=1))
            except Exception:
                text = "None"
            lines.append(f"{{{label}: {text}}}")
        return os.linesep.join(lines)

    def state_dict(self) -> dict[str, Any]:
        """Extra state to keep in checkpoints (none by default)."""
        return {}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore what ``state_dict`` returned."""

    def on_exception(self, exception: BaseException) -> None:
        """Called when fit/validate/test/predict ends by an exception (after the callbacks' ``on_exception``)."""

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None: ...
    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None: ...

    @classmethod
    def load_from_checkpoint(cls, checkpoint_path: Union[str, Path, IO], map_location: Any = None,
                             hparams_file: Optional[Union[str, Path]] = None, weights_only: Optional[bool] = None,
                             **kwargs: Any) -> "LightningDataModule":
        """Build the datamodule from the hyperparameters saved in a checkpoint (``kwargs`` override them)."""
        from fastlit.checkpoint.loading import load_datamodule_from_checkpoint

        return load_datamodule_from_checkpoint(cls, checkpoint_path, map_location, hparams_file, weights_only, **kwargs)


# Names Lightning's module also exports, imported on first use (see fastlit._reexport).
from fastlit._reexport import lazy_exports  # noqa: E402

__getattr__ = lazy_exports(__name__, {
    "apply_to_collection": "fastlit.utilities.apply_func",
})
