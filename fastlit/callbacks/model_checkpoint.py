"""``ModelCheckpoint``: save the model periodically, keep the top-k files by a monitored metric.

Behaviour (file names, when it saves, which file it deletes, checkpoint state) follows Lightning 2.6. Writes go
through ``trainer.save_checkpoint`` (temp file + fsync + rename), and an old top-k file is deleted only after
that call has returned, i.e. after the new file is durable. At setup, rank 0 deletes the hidden temp files that
checkpoint writers killed mid-write left in ``dirpath`` (only those whose writer pid is dead; see
``fastlit.checkpoint.io.remove_stale_temp_files``).
"""
from __future__ import annotations

import inspect
import logging
import os
import re
import shutil
import time
import warnings
from copy import deepcopy
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal, Optional, Union
from weakref import proxy

import torch
from torch import Tensor

from fastlit.callbacks.checkpoint import Checkpoint, _legacy_auto_mode, _legacy_model_checkpoint_args
from fastlit.checkpoint.io import remove_stale_temp_files
from fastlit.utilities.exceptions import MisconfigurationException
from fastlit.utilities.rank_zero import WarningCache, rank_zero_info, rank_zero_warn

log = logging.getLogger(__name__)
warning_cache = WarningCache()
_PATH = Union[str, Path]
# "{name" up to the ":" or "}" that ends the field name, as in Lightning's template parser.
_FIELD = re.compile(r"\{(.*?)(?=[:}])")


def _total(num_batches: Any) -> float:
    """``trainer.num_val_batches`` is a list (one entry per dataloader); tolerate a plain number too."""
    if isinstance(num_batches, (list, tuple)):
        return sum(num_batches)
    return num_batches or 0


def _v2_format_args(metrics: dict, filename: Optional[str] = None, ver: Optional[int] = None,
                    prefix: Optional[str] = None) -> None: ...


def _v1_format_args(epoch: int, step: int, metrics: dict, ver: Optional[int] = None) -> None: ...


class ModelCheckpoint(Checkpoint):
    """Save checkpoints during ``fit``; keep the ``save_top_k`` best by ``monitor``.

    Args:
        dirpath: directory for the files. Default: ``<save_dir>/<name>/<version>/checkpoints`` of the first logger,
            or ``<default_root_dir>/checkpoints`` without a logger.
        filename: template such as ``'{epoch:02d}-{val_loss:.2f}'``; default ``'{epoch}-{step}'``, i.e.
            ``epoch=0-step=100.ckpt``. Unknown fields format as 0.
        monitor: metric key in ``trainer.callback_metrics`` to rank checkpoints by; ``None`` keeps the latest.
        verbose: log each decision.
        save_last: also write ``last.ckpt`` whenever a checkpoint is written; ``"link"`` makes it a symlink.
        save_top_k: how many files to keep: ``k`` best, ``0`` none, ``-1`` all.
        save_on_exception: write a checkpoint when training raises.
        save_weights_only: write only the model weights (no optimizer/loop state).
        mode: ``"min"`` or ``"max"``: which direction of ``monitor`` is better.
        auto_insert_metric_name: ``'{epoch}'`` becomes ``epoch=3``; set ``False`` for names containing ``/``.
        every_n_train_steps: also save every N optimizer steps (in ``on_train_batch_end``); 0/None disables.
        train_time_interval: save when this ``timedelta`` has passed since the last check.
        every_n_epochs: save every N epochs (default 1 when no other trigger is given; 0 disables top-k saves).
        save_on_train_epoch_end: save at the end of the training epoch (``True``) or after validation
            (``False``); ``None`` picks as Lightning does.
        enable_version_counter: append ``-v1``, ``-v2``... instead of overwriting an existing file name.
    """

    CHECKPOINT_JOIN_CHAR = "-"
    CHECKPOINT_EQUALS_CHAR = "="
    CHECKPOINT_NAME_LAST = "last"
    FILE_EXTENSION = ".ckpt"
    STARTING_VERSION = 1

    def __init__(
        self,
        dirpath: Optional[_PATH] = None,
        filename: Optional[str] = None,
        monitor: Optional[str] = None,
        verbose: bool = False,
        save_last: Optional[Union[bool, Literal["link"]]] = None,
        save_top_k: int = 1,
        save_on_exception: bool = False,
        save_weights_only: bool = False,
        mode: str = "min",
        auto_insert_metric_name: bool = True,
        every_n_train_steps: Optional[int] = None,
        train_time_interval: Optional[timedelta] = None,
        every_n_epochs: Optional[int] = None,
        save_on_train_epoch_end: Optional[bool] = None,
        enable_version_counter: bool = True,
        **legacy_kwargs: Any,
    ) -> None:
        super().__init__()
        dirpath, filename, every_n_epochs, save_top_k, self._prefix = _legacy_model_checkpoint_args(
            legacy_kwargs, dirpath, filename, every_n_epochs, save_top_k)
        self.monitor = monitor
        self.verbose = verbose
        self.save_last = save_last
        self.save_top_k = save_top_k
        self.save_on_exception = save_on_exception
        self.save_weights_only = save_weights_only
        self.auto_insert_metric_name = auto_insert_metric_name
        self._save_on_train_epoch_end = save_on_train_epoch_end
        self._enable_version_counter = enable_version_counter
        self._last_global_step_saved = 0  # nothing to save before the first optimizer step
        self._last_time_checked: Optional[float] = None
        self._defer_save_until_validation = False
        self._val_has_run = False  # a (non-sanity) validation ran during this fit: missing monitor is then an error
        self.current_score: Optional[Tensor] = None
        self.best_k_models: dict[str, Tensor] = {}
        self.kth_best_model_path = ""
        self.best_model_score: Optional[Tensor] = None
        self.best_model_path = ""
        self.last_model_path = ""
        self._last_checkpoint_saved = ""

        mode = _legacy_auto_mode(mode, monitor, "ModelCheckpoint")
        if mode not in ("min", "max"):
            raise MisconfigurationException(f"`mode` can be min, max but got {mode}")
        self.mode = mode
        self.kth_value: Tensor = torch.tensor(torch.inf if mode == "min" else -torch.inf)

        if dirpath and "://" in str(dirpath) and not str(dirpath).startswith("file://"):
            raise MisconfigurationException(
                f"ModelCheckpoint(dirpath={dirpath!r}): fastlit writes checkpoints to local paths only. "
                "Pass a local directory and copy the files to remote storage afterwards.")
        if dirpath:
            dirpath = os.path.realpath(os.path.expanduser(str(dirpath).removeprefix("file://")))
        self.dirpath: Optional[_PATH] = dirpath
        self.filename = filename

        if every_n_train_steps is None and every_n_epochs is None and train_time_interval is None:
            every_n_epochs, every_n_train_steps = 1, 0
        self._every_n_epochs: int = every_n_epochs or 0
        self._every_n_train_steps: int = every_n_train_steps or 0
        self._train_time_interval: Optional[timedelta] = train_time_interval
        self._validate_init_configuration()

    # ------------------------------------------------------------------ configuration
    def _validate_init_configuration(self) -> None:
        if self.save_top_k < -1:
            raise MisconfigurationException(f"Invalid value for save_top_k={self.save_top_k}. Must be >= -1")
        if self._every_n_train_steps < 0:
            raise MisconfigurationException(
                f"Invalid value for every_n_train_steps={self._every_n_train_steps}. Must be >= 0")
        if self._every_n_epochs < 0:
            raise MisconfigurationException(f"Invalid value for every_n_epochs={self._every_n_epochs}. Must be >= 0")
        triggers = (self._every_n_train_steps >= 1) + (self._every_n_epochs >= 1) + (self._train_time_interval is not None)
        if triggers > 1:
            raise MisconfigurationException(
                f"Combination of parameters every_n_train_steps={self._every_n_train_steps}, "
                f"every_n_epochs={self._every_n_epochs} and train_time_interval={self._train_time_interval} "
                "should be mutually exclusive.")
        if self.monitor is None and self.save_top_k not in (-1, 0, 1):
            raise MisconfigurationException(
                f"ModelCheckpoint(save_top_k={self.save_top_k}, monitor=None) is not a valid"
                " configuration. No quantity for top_k to track.")

    @property
    def state_key(self) -> str:
        return self._generate_state_key(
            monitor=self.monitor, mode=self.mode, every_n_train_steps=self._every_n_train_steps,
            every_n_epochs=self._every_n_epochs, train_time_interval=self._train_time_interval)

    @property
    def every_n_epochs(self) -> Optional[int]:
        return self._every_n_epochs

    # ------------------------------------------------------------------ hooks
    def setup(self, trainer: Any, pl_module: Any, stage: str) -> None:
        # rank 0 decides (its logger picked the version dir); other ranks must use the same paths
        self.dirpath = trainer.strategy.broadcast(self._resolve_ckpt_dir(trainer))
        if trainer.is_global_zero:
            # a run SIGKILLed mid-write leaves its hidden temp file here; remove those of dead writers only
            removed = remove_stale_temp_files(self.dirpath, self.FILE_EXTENSION)
            if removed and self.verbose:
                rank_zero_info(f"Removed {len(removed)} temp file(s) of killed checkpoint writes from {self.dirpath}")
        if stage == "fit":
            self._val_has_run = False
            if trainer.is_global_zero and self.save_top_k != 0 and os.path.isdir(self.dirpath) \
                    and os.listdir(self.dirpath):
                rank_zero_warn(f"Checkpoint directory {self.dirpath} exists and is not empty.")

    def on_train_start(self, trainer: Any, pl_module: Any) -> None:
        self._last_time_checked = time.monotonic()

    def on_train_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
        """Save every ``every_n_train_steps`` optimizer steps or every ``train_time_interval``."""
        if self._every_n_train_steps < 1 and self._train_time_interval is None:
            return  # the common case: this hook has nothing to do
        skip_batch = self._every_n_train_steps < 1 or trainer.global_step % self._every_n_train_steps != 0
        if not getattr(pl_module, "automatic_optimization", True):
            # Lightning's manual-optimization path looks at every_n_train_steps only.
            if skip_batch or self._should_skip_saving_checkpoint(trainer):
                return
            candidates = self._monitor_candidates(trainer)
            if self.monitor is not None and self.monitor not in candidates:
                self._defer_save_until_validation = True
                return
            self._save_topk_checkpoint(trainer, candidates)
            self._save_last_checkpoint(trainer, candidates)
            self._last_time_checked = time.monotonic()
            return

        skip_time, now = True, time.monotonic()
        if self._train_time_interval is not None:
            skip_time = self._last_time_checked is None or \
                (now - self._last_time_checked) < self._train_time_interval.total_seconds()
        if skip_batch and skip_time:
            return
        if not skip_time:
            self._last_time_checked = now
        candidates = self._monitor_candidates(trainer)
        # A validation-only metric is not there yet: save once validation has produced it.
        if self.monitor is not None and self.monitor not in candidates:
            self._defer_save_until_validation = True
            return
        # On the epoch's last batch a validation about to run would make the metric stale: wait for it.
        if self.monitor is not None and not self._should_save_on_train_epoch_end(trainer) \
                and self._is_last_batch(trainer) and self._validation_will_run(trainer):
            self._defer_save_until_validation = True
            return
        if self._should_skip_saving_checkpoint(trainer):
            return
        self._save_topk_checkpoint(trainer, candidates)
        self._save_last_checkpoint(trainer, candidates)

    def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        if not self._should_skip_saving_checkpoint(trainer) and self._should_save_on_train_epoch_end(trainer):
            self._save_on_epoch(trainer)

    def on_validation_end(self, trainer: Any, pl_module: Any) -> None:
        if trainer.state.fn == "fit" and not trainer.sanity_checking and _total(trainer.num_val_batches) > 0:
            self._val_has_run = True
        if self._should_skip_saving_checkpoint(trainer) or self._should_save_on_train_epoch_end(trainer):
            return
        if self._defer_save_until_validation:
            candidates = self._monitor_candidates(trainer)
            self._save_topk_checkpoint(trainer, candidates)
            self._save_last_checkpoint(trainer, candidates)
            self._defer_save_until_validation = False
            return
        self._save_on_epoch(trainer)

    def _save_on_epoch(self, trainer: Any) -> None:
        candidates = self._monitor_candidates(trainer)
        if self._every_n_epochs >= 1 and (trainer.current_epoch + 1) % self._every_n_epochs == 0:
            self._save_topk_checkpoint(trainer, candidates)
        # last.ckpt only follows an actual save at this step (or keeps pointing at it when it is a link)
        if self._last_global_step_saved == trainer.global_step or (
                self.save_last == "link" and self._last_checkpoint_saved):
            self._save_last_checkpoint(trainer, candidates)

    def on_exception(self, trainer: Any, pl_module: Any, exception: BaseException) -> None:
        if not (self.save_on_exception and not trainer.fast_dev_run and not trainer.sanity_checking
                and self._last_global_step_saved != trainer.global_step):
            return
        candidates = self._monitor_candidates(trainer)
        filepath = self.format_checkpoint_name(candidates)
        self._save_checkpoint(trainer, filepath)
        self._save_last_checkpoint(trainer, candidates)
        rank_zero_info(f"An {type(exception).__name__} was raised with message: {exception}, "
                       f"saved checkpoint to {filepath}")

    def on_train_end(self, trainer: Any, pl_module: Any) -> None:
        # save_last=True promises a last.ckpt even when no top-k save ever happened
        if self.save_last and not self._last_checkpoint_saved:
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        return {
            "monitor": self.monitor,
            "best_model_score": self.best_model_score,
            "best_model_path": self.best_model_path,
            "current_score": self.current_score,
            "dirpath": self.dirpath,
            "best_k_models": self.best_k_models,
            "kth_best_model_path": self.kth_best_model_path,
            "kth_value": self.kth_value,
            "last_model_path": self.last_model_path,
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        saved_dir = state_dict.get("dirpath", self.dirpath)
        if self.dirpath == saved_dir:
            self.best_model_score = state_dict["best_model_score"]
            self.kth_best_model_path = state_dict.get("kth_best_model_path", self.kth_best_model_path)
            self.kth_value = state_dict.get("kth_value", self.kth_value)
            self.best_k_models = state_dict.get("best_k_models", self.best_k_models)
            self.last_model_path = state_dict.get("last_model_path", self.last_model_path)
        else:
            # the old top-k files live elsewhere: do not rank (and later delete) them from this run
            warnings.warn(
                f"The dirpath has changed from {saved_dir!r} to {self.dirpath!r}, therefore `best_model_score`, "
                "`kth_best_model_path`, `kth_value`, `last_model_path` and `best_k_models` won't be reloaded. "
                "Only `best_model_path` will be reloaded.")
        self.best_model_path = state_dict["best_model_path"]

    # ------------------------------------------------------------------ decisions
    def _should_skip_saving_checkpoint(self, trainer: Any) -> bool:
        return (bool(trainer.fast_dev_run) or trainer.state.fn != "fit" or trainer.sanity_checking
                or self._last_global_step_saved == trainer.global_step)

    def _should_save_on_train_epoch_end(self, trainer: Any) -> bool:
        if self._save_on_train_epoch_end is not None:
            return self._save_on_train_epoch_end
        if getattr(trainer, "_val_check_time_interval", None) is not None:
            return False  # time-based validation: save after validation
        if trainer.check_val_every_n_epoch != 1:
            return False  # validation does not run every epoch
        if _total(trainer.num_val_batches) == 0:
            return True  # no validation at all
        return trainer.val_check_interval == 1.0  # several validations per epoch: save after each

    @staticmethod
    def _is_last_batch(trainer: Any) -> bool:
        # Lightning's trainer.fit_loop.epoch_loop.batch_progress.is_last_batch; fastlit's Trainer keeps it in
        # trainer._loop (a LoopState)
        progress = getattr(getattr(getattr(trainer, "fit_loop", None), "epoch_loop", None), "batch_progress", None)
        if progress is None:
            progress = getattr(trainer, "_loop", None)
        return bool(getattr(progress, "is_last_batch", False))

    @staticmethod
    def _validation_will_run(trainer: Any) -> bool:
        if not getattr(trainer, "enable_validation", False):
            return False
        every = trainer.check_val_every_n_epoch
        return _total(trainer.num_val_batches) > 0 and (every is None or (trainer.current_epoch + 1) % every == 0)

    def check_monitor_top_k(self, trainer: Any, current: Optional[Tensor] = None) -> bool:
        """Whether ``current`` earns a place among the ``save_top_k`` best."""
        if current is None:
            return False
        if self.save_top_k == -1 or len(self.best_k_models) < self.save_top_k:
            return True
        better = torch.lt if self.mode == "min" else torch.gt
        return bool(better(current, self.best_k_models[self.kth_best_model_path]))

    # ------------------------------------------------------------------ names
    def _format_checkpoint_name(self, filename: Optional[str], metrics: dict[str, Any], prefix: Optional[str] = None,
                                auto_insert_metric_name: bool = True) -> str:
        if not filename:
            filename = "{epoch}" + self.CHECKPOINT_JOIN_CHAR + "{step}"
        metrics = dict(metrics)

        def field(m: re.Match) -> str:
            name = m.group(1)
            metrics.setdefault(name, torch.tensor(0))  # unknown fields format as 0
            # "{0[name]" looks the value up by key, so names with "." or "/" work
            key = "{0[" + name + "]"
            return f"{name}{self.CHECKPOINT_EQUALS_CHAR}{key}" if auto_insert_metric_name else key

        filename = _FIELD.sub(field, filename).format(metrics)
        if prefix is not None:
            filename = self.CHECKPOINT_JOIN_CHAR.join([prefix, filename])
        return filename

    def format_checkpoint_name(self, *args: Any, **kwargs: Any) -> str:
        """``format_checkpoint_name(metrics, filename=None, ver=None, prefix=None)``: the path for these metrics.

        E.g. with ``filename='{epoch}-{val_loss:.2f}'``, ``format_checkpoint_name(dict(epoch=2, val_loss=0.123456))``
        gives ``<dirpath>/epoch=2-val_loss=0.12.ckpt``. Lightning 1.x's ``(epoch, step, metrics, ver=None)`` call
        form is accepted too, with a ``DeprecationWarning``.
        """
        legacy = "epoch" in kwargs or (args and isinstance(args[0], int) and not isinstance(args[0], bool))
        if legacy:
            a = inspect.signature(_v1_format_args).bind(*args, **kwargs).arguments
            warnings.warn("`format_checkpoint_name(epoch, step, metrics)` is the Lightning 1.x form; use "
                          "`format_checkpoint_name(dict(metrics, epoch=epoch, step=step))`.",
                          DeprecationWarning, stacklevel=2)
            metrics = {**a["metrics"], "epoch": a["epoch"], "step": a["step"]}
            filename, ver, prefix = None, a.get("ver"), None
        else:
            a = inspect.signature(_v2_format_args).bind(*args, **kwargs).arguments
            metrics, filename, ver, prefix = a["metrics"], a.get("filename"), a.get("ver"), a.get("prefix")
        if prefix is None:
            prefix = self._prefix
        name = self._format_checkpoint_name(filename or self.filename, metrics, prefix=prefix,
                                            auto_insert_metric_name=self.auto_insert_metric_name)
        if ver is not None:
            name = self.CHECKPOINT_JOIN_CHAR.join((name, f"v{ver}"))
        name = f"{name}{self.FILE_EXTENSION}"
        return os.path.join(self.dirpath, name) if self.dirpath else name

    def _resolve_ckpt_dir(self, trainer: Any) -> _PATH:
        """``dirpath`` if given, else ``<save_dir>/<name>/<version>/checkpoints`` of the first logger, else
        ``<default_root_dir>/checkpoints``."""
        if self.dirpath is not None:
            return self.dirpath
        if trainer.loggers:
            logger = trainer.loggers[0]
            save_dir = logger.save_dir if logger.save_dir is not None else trainer.default_root_dir
            version = logger.version if isinstance(logger.version, str) else f"version_{logger.version}"
            return os.path.join(save_dir, str(logger.name), version, "checkpoints")
        return os.path.join(trainer.default_root_dir, "checkpoints")

    def _find_last_checkpoints(self, trainer: Any) -> set[str]:
        """Every ``last*.ckpt`` in the checkpoint directory (for ``ckpt_path="last"``)."""
        path = self._resolve_ckpt_dir(trainer)
        pattern = re.compile(rf"^{self.CHECKPOINT_NAME_LAST}(-(\d+))?")
        if not os.path.isdir(path):
            return set()
        return {os.path.normpath(os.path.join(path, f)) for f in os.listdir(path)
                if Path(f).suffix == self.FILE_EXTENSION and pattern.match(Path(f).stem)}

    def _get_metric_interpolated_filepath_name(self, candidates: dict[str, Tensor], trainer: Any,
                                               del_filepath: Optional[str] = None) -> str:
        filepath = self.format_checkpoint_name(candidates)
        if self._enable_version_counter:
            ver = self.STARTING_VERSION
            # the file about to be replaced (del_filepath) may be overwritten in place
            while self.file_exists(filepath, trainer) and filepath != del_filepath:
                filepath = self.format_checkpoint_name(candidates, ver=ver)
                ver += 1
        return filepath

    def _monitor_candidates(self, trainer: Any) -> dict[str, Tensor]:
        candidates = {k: v if isinstance(v, Tensor) else torch.tensor(v)
                      for k, v in deepcopy(dict(trainer.callback_metrics)).items()}
        # self.log("epoch", ...) is stored as float: make it an int again; anything else is replaced
        epoch, step = candidates.get("epoch"), candidates.get("step")
        candidates["epoch"] = epoch.int() if isinstance(epoch, Tensor) else torch.tensor(trainer.current_epoch)
        candidates["step"] = step.int() if isinstance(step, Tensor) else torch.tensor(trainer.global_step)
        return candidates

    # ------------------------------------------------------------------ saving
    def _save_topk_checkpoint(self, trainer: Any, candidates: dict[str, Tensor]) -> None:
        if self.save_top_k == 0:
            return
        if self.monitor is None:
            self._save_none_monitor_checkpoint(trainer, candidates)
            return
        if self.monitor not in candidates:
            m = (f"`ModelCheckpoint(monitor={self.monitor!r})` could not find the monitored key in the returned"
                 f" metrics: {list(candidates)}."
                 f" HINT: Did you call `log({self.monitor!r}, value)` in the `LightningModule`?")
            if self._val_has_run:
                raise MisconfigurationException(m)
            warning_cache.warn(m)  # validation has not produced it yet (or never runs): not an error
        self._save_monitor_checkpoint(trainer, candidates)

    def _save_checkpoint(self, trainer: Any, filepath: str) -> None:
        # deferred: with AsyncCheckpointIO, parameters and optimizer state may be copied after this returns
        trainer._save_checkpoint(filepath, self.save_weights_only, deferred=True)
        self._last_global_step_saved = trainer.global_step
        self._last_checkpoint_saved = filepath
        if trainer.is_global_zero:
            for logger in trainer.loggers:
                logger.after_save_checkpoint(proxy(self))

    @staticmethod
    def _link_checkpoint(trainer: Any, filepath: str, linkpath: str) -> None:
        if trainer.is_global_zero and os.path.abspath(filepath) != os.path.abspath(linkpath):
            if os.path.islink(linkpath) or os.path.isfile(linkpath):
                os.remove(linkpath)
            elif os.path.isdir(linkpath):
                shutil.rmtree(linkpath)
            try:
                os.symlink(os.path.relpath(filepath, os.path.dirname(linkpath)), linkpath)
            except OSError:  # no symlink permission (Windows): copy instead
                shutil.copy(filepath, linkpath)

    def _save_last_checkpoint(self, trainer: Any, candidates: dict[str, Tensor]) -> None:
        if not self.save_last:
            return
        filepath = self.format_checkpoint_name(candidates, self.CHECKPOINT_NAME_LAST)
        if self._enable_version_counter:
            ver = self.STARTING_VERSION
            while self.file_exists(filepath, trainer) and filepath != self.last_model_path:
                filepath = self.format_checkpoint_name(candidates, self.CHECKPOINT_NAME_LAST, ver=ver)
                ver += 1
        # set before saving: last_model_path is part of the state written into the file
        previous, self.last_model_path = self.last_model_path, filepath
        if self.save_last == "link" and self._last_checkpoint_saved and self.save_top_k != 0:
            self._link_checkpoint(trainer, self._last_checkpoint_saved, filepath)
        else:
            self._save_checkpoint(trainer, filepath)
        if previous and self._should_remove_checkpoint(trainer, previous, filepath):
            self._remove_checkpoint(trainer, previous)

    def _save_monitor_checkpoint(self, trainer: Any, candidates: dict[str, Tensor]) -> None:
        current = candidates.get(self.monitor)
        if self.check_monitor_top_k(trainer, current):
            self._update_best_and_save(current, trainer, candidates)
        elif self.verbose:
            rank_zero_info(f"Epoch {int(candidates['epoch']):d}, global step {int(candidates['step']):d}: "
                           f"{self.monitor!r} was not in top {self.save_top_k}")

    def _save_none_monitor_checkpoint(self, trainer: Any, candidates: dict[str, Tensor]) -> None:
        filepath = self._get_metric_interpolated_filepath_name(candidates, trainer, self.best_model_path)
        previous, self.best_model_path = self.best_model_path, filepath
        self._save_checkpoint(trainer, filepath)
        if self.save_top_k == 1 and previous and self._should_remove_checkpoint(trainer, previous, filepath):
            self._remove_checkpoint(trainer, previous)  # only now: the new file is durable

    def _update_best_and_save(self, current: Tensor, trainer: Any, candidates: dict[str, Tensor]) -> None:
        k = len(self.best_k_models) + 1 if self.save_top_k == -1 else self.save_top_k
        del_filepath = None
        if len(self.best_k_models) == k and k > 0:
            del_filepath = self.kth_best_model_path
            self.best_k_models.pop(del_filepath)
        if torch.isnan(current):  # a NaN never ranks as best
            current = torch.tensor(float("inf" if self.mode == "min" else "-inf"), device=current.device)
        filepath = self._get_metric_interpolated_filepath_name(candidates, trainer, del_filepath)
        self.current_score = current
        self.best_k_models[filepath] = current
        if len(self.best_k_models) == k:
            worst = max if self.mode == "min" else min
            self.kth_best_model_path = worst(self.best_k_models, key=self.best_k_models.get)
            self.kth_value = self.best_k_models[self.kth_best_model_path]
        best = min if self.mode == "min" else max
        self.best_model_path = best(self.best_k_models, key=self.best_k_models.get)
        self.best_model_score = self.best_k_models[self.best_model_path]
        if self.verbose:
            rank_zero_info(
                f"Epoch {int(candidates['epoch']):d}, global step {int(candidates['step']):d}: {self.monitor!r} "
                f"reached {float(current):0.5f} (best {float(self.best_model_score):0.5f}), saving model to "
                f"{filepath!r} as top {k}")
        self._save_checkpoint(trainer, filepath)
        # delete the dropped file only after the new one is durable (save_checkpoint returned)
        if del_filepath and self._should_remove_checkpoint(trainer, del_filepath, filepath):
            self._remove_checkpoint(trainer, del_filepath)

    def to_yaml(self, filepath: Optional[_PATH] = None) -> None:
        """Write ``best_k_models`` (path -> score) to ``filepath`` (default ``<dirpath>/best_k_models.yaml``)."""
        best_k = {k: v.item() for k, v in self.best_k_models.items()}
        if filepath is None:
            if not self.dirpath:
                raise ValueError("ModelCheckpoint.to_yaml() needs a filepath when dirpath is not set yet.")
            filepath = os.path.join(self.dirpath, "best_k_models.yaml")
        with open(filepath, "w") as fp:
            import yaml  # lazily: `import fastlit` must stay light

            yaml.dump(best_k, fp)

    def file_exists(self, filepath: _PATH, trainer: Any) -> bool:
        """Whether ``filepath`` exists (checked on rank 0 only; other ranks see ``False``)."""
        return os.path.exists(filepath) if trainer.is_global_zero else False

    def _should_remove_checkpoint(self, trainer: Any, previous: str, current: str) -> bool:
        """Never delete the file just written, files outside ``dirpath``, or the checkpoint we resumed from."""
        if previous == current:
            return False
        previous_path = Path(previous).absolute()
        ckpt_path = getattr(trainer, "ckpt_path", None)
        if ckpt_path is not None and previous_path == Path(ckpt_path).absolute():
            return False
        return Path(self.dirpath).absolute() in previous_path.parents

    def _remove_checkpoint(self, trainer: Any, filepath: str) -> None:
        if not trainer.is_global_zero:
            return
        checkpoint_io = getattr(trainer, "_checkpoint_io", None)
        if checkpoint_io is not None:
            checkpoint_io.remove_checkpoint(filepath)
        elif os.path.exists(filepath):
            os.remove(filepath)


# Names Lightning's module also exports, imported on first use (see fastlit._reexport).
from fastlit._reexport import lazy_exports  # noqa: E402

__getattr__ = lazy_exports(__name__, {
    "get_filesystem": "fastlit.utilities.cloud_io",
})
