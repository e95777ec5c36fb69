"""``trainer._data``: the one owner of the Trainer's dataloaders and batch counts.

Before, these were loose Trainer attributes written from trainer.py, run.py, fit_loop.py, eval_loop.py and the
tuner; now every write goes through here and the Trainer exposes Lightning's public names as properties
(properties.py). data.py keeps the stateless rules (resolving, limits, samplers) this object applies.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional, Union

from fastlit.trainer import data as data_mod
from fastlit.utilities.rank_zero import WarningCache

if TYPE_CHECKING:
    from fastlit.trainer.trainer import Trainer

_warnings = WarningCache()

_LIMIT = {"val": "limit_val_batches", "test": "limit_test_batches", "predict": "limit_predict_batches"}

Count = Union[int, float]

# what a tuner trial overwrites and TrialState.restore puts back
_TRIAL_FIELDS = ("train_dataloader", "num_training_batches", "val_check_batch", "val_dataloaders", "val_loaders",
                 "num_val_batches", "num_sanity_val_batches", "test_dataloaders", "num_test_batches",
                 "predict_dataloaders", "num_predict_batches")


class DataConnector:
    """The loaders each stage runs on and how many batches of each, plus what ``fit`` was given.

    Args:
        trainer: the Trainer whose limits, strategy, datamodule and module decide the loaders and counts.
    """

    def __init__(self, trainer: Trainer) -> None:
        self.trainer = trainer
        self.train_dataloader: Any = None
        self.val_dataloaders: Any = None
        self.test_dataloaders: Any = None
        self.predict_dataloaders: Any = None
        self.num_training_batches: Count = float("inf")
        self.num_val_batches: list[Count] = []
        self.num_sanity_val_batches: list[Count] = []
        self.num_test_batches: list[Count] = []
        self.num_predict_batches: list[Count] = []
        self.val_check_batch: Count = float("inf")
        self.val_loaders: list[Any] = []  # fit's validation loaders as a list (val_dataloaders is Lightning's form)
        self.val_given: Any = None  # what fit was given for validation (None: the datamodule's/module's)
        self.val_ready = False  # val_loaders were built for this fit (they are built lazily, see setup_val)
        self.val_defined = False  # fit has a validation loader source (enable_validation needs it before set-up)
        self.val_loaded_epoch = 0  # the epoch val_loaders were built in (reload_dataloaders_every_n_epochs)
        self.train_given: Any = None  # what fit was given for training (estimated_stepping_batches reads it early)
        self.entry_loaders: Optional[dict[str, Any]] = None  # the entry point's loaders (the Tuner's trials reuse them)

    # ------------------------------------------------------------------ tuner trials
    def snapshot(self) -> dict[str, Any]:
        """The loaders and batch counts, for ``restore`` after the tuner's trial runs. Fit's validation readiness
        is left as the trials left it (not ready): like Lightning, which drops its validation loader after
        ``lr_find``, fit rebuilds its validation loaders at its next validation."""
        return {name: getattr(self, name) for name in _TRIAL_FIELDS}

    def restore(self, snapshot: dict[str, Any]) -> None:
        for name, value in snapshot.items():
            setattr(self, name, value)

    # ------------------------------------------------------------------ fit
    def attach(self, loaders: dict[str, Any], fitting: bool) -> None:
        """An entry point starts: remember its loaders; for ``fit``, whether validation has a loader source
        (known before the setup hooks, as in Lightning: `trainer.enable_validation` in a callback's setup)."""
        t = self.trainer
        self.entry_loaders = loaders
        if fitting:
            source = t.datamodule or t.lightning_module
            self.val_defined = loaders.get("val") is not None or data_mod._source_has(source, "val_dataloader")

    def setup_train(self, given: Any) -> None:
        """Resolve the training loader and derive the epoch length and validation interval from it."""
        t = self.trainer
        loader = data_mod.resolve("train", given, t.datamodule, t.lightning_module)
        data_mod.check_is_loader(loader, "train")
        if t.overfit_batches:
            loader = data_mod.without_shuffle(loader)
        if t.world_size > 1 and t.use_distributed_sampler:
            loader = data_mod.with_distributed_sampler(loader, t.strategy)
        self.train_dataloader = loader
        n = self.num_training_batches = data_mod.limit(data_mod.length(loader), t.limit_train_batches,
                                                       "limit_train_batches")
        self.val_check_batch = data_mod.val_check_batch(t.val_check_interval, n, t.check_val_every_n_epoch)
        if t.log_every_n_steps and n < t.log_every_n_steps and not t.fast_dev_run and t.loggers:
            _warnings.warn(
                f"The number of training batches ({n}) is smaller than the logging interval "
                f"Trainer(log_every_n_steps={t.log_every_n_steps}). Set a lower value for log_every_n_steps if you "
                "want to see logs for the training epoch.")

    def reset_val(self, given: Any) -> None:
        """A fit starts: its validation loaders are built when first needed (see ``setup_val``)."""
        self.val_given, self.val_ready = given, False
        self.val_loaders, self.num_val_batches = [], []

    def val_stale(self, reload_every: int, epoch: int) -> bool:
        """The validation loaders must be (re)built: not yet built, or ``reload_dataloaders_every_n_epochs``."""
        return not self.val_ready or bool(reload_every and epoch - self.val_loaded_epoch >= reload_every)

    def setup_val(self) -> None:
        """Resolve fit's validation loaders. Like Lightning, this happens when they are first needed (inside the
        sanity check's RNG isolation, or at the first validation), since building them may draw random numbers."""
        t = self.trainer
        self.val_loaders = []
        self.num_val_batches = []
        self.val_loaded_epoch = t.current_epoch
        self.val_ready = True
        if not t.enable_validation:
            return
        self.val_loaders = self.setup_eval("val", self.val_given)
        n = t.num_sanity_val_steps
        self.num_sanity_val_batches = [min(n, c) for c in self.num_val_batches]

    # ------------------------------------------------------------------ evaluation
    def setup_eval(self, key: str, given: Any) -> list[Any]:
        """Resolve the ``key`` ("val"/"test"/"predict") loaders and their limited batch counts."""
        t = self.trainer
        loaders = data_mod.as_list(data_mod.resolve(key, given, t.datamodule, t.lightning_module))
        for dl in loaders:
            data_mod.check_is_loader(dl, key)
        if t.world_size > 1 and t.use_distributed_sampler and key != "predict":
            loaders = [data_mod.with_distributed_sampler(dl, t.strategy, shuffle=False) for dl in loaders]
        lim = getattr(t, _LIMIT[key])
        counts = [data_mod.limit(data_mod.length(dl), lim, _LIMIT[key]) for dl in loaders]
        t._eval_steps_logged = [0] * len(loaders)  # x-axis of eval on_step metrics: runs on across a fit's validations
        joined = loaders[0] if len(loaders) == 1 else loaders
        if key == "val":
            self.val_dataloaders, self.num_val_batches = joined, counts
        elif key == "test":
            self.test_dataloaders, self.num_test_batches = joined, counts
        else:
            self.predict_dataloaders, self.num_predict_batches = joined, counts
        return loaders
