"""The Trainer's checkpoint entry points: which ``CheckpointIO`` writes, ``save_checkpoint``, what
``ckpt_path="best"/"last"`` means, and loading a checkpoint at the start of a run.

What goes into a checkpoint and how each part is restored lives in ``fastlit.checkpoint.connector``.
"""
from __future__ import annotations

import os
from typing import Any, Optional, Union

from torch import Tensor

from fastlit.checkpoint import connector as ckpt_connector
from fastlit.checkpoint.io import CheckpointIO, TorchCheckpointIO
from fastlit.trainer.states import TrainerFn, TrainerStatus
from fastlit.utilities.exceptions import MisconfigurationException


class CheckpointingMixin:
    """Part of ``Trainer``: checkpoint I/O selection, saving, and the checkpoint a run restores from."""

    def _configure_checkpoint_io(self, plugins: Optional[Any], async_checkpoint: bool) -> None:
        """Pick ``self._checkpoint_io`` from ``Trainer(plugins=..., async_checkpoint=...)``."""
        self._checkpoint_io: CheckpointIO = TorchCheckpointIO()
        self._ckpt_fence: Optional[Any] = None  # set per run by _build_hooks when saves may defer their copies
        for p in plugins if isinstance(plugins, (list, tuple)) else ([plugins] if plugins is not None else []):
            if isinstance(p, CheckpointIO):
                self._checkpoint_io = p
            else:
                raise MisconfigurationException(f"Unsupported plugin {type(p).__name__}; fastlit accepts CheckpointIO plugins.")
        if async_checkpoint:
            from fastlit.checkpoint.async_io import AsyncCheckpointIO

            if not isinstance(self._checkpoint_io, AsyncCheckpointIO):
                self._checkpoint_io = AsyncCheckpointIO(self._checkpoint_io)

    def save_checkpoint(self, filepath: Union[str, os.PathLike], weights_only: bool = False,
                        storage_options: Optional[Any] = None) -> None:
        """Write a Lightning-format checkpoint of the current state to ``filepath`` (durably)."""
        self._save_checkpoint(filepath, weights_only, storage_options)

    def _save_checkpoint(self, filepath: Union[str, os.PathLike], weights_only: bool = False,
                         storage_options: Optional[Any] = None, deferred: bool = False) -> None:
        """``save_checkpoint``; ``deferred`` (ModelCheckpoint's saves): with ``AsyncCheckpointIO(staging=
        "deferred")`` during a run, parameters and optimizer state are copied after this returns, and the loop
        fences (``_ckpt_fence``) before the optimizer step and user hooks, the only code that writes to them."""
        if self.lightning_module is None:
            raise AttributeError("Saving a checkpoint is only possible if a model is attached to the Trainer. Did you "
                                 "call `Trainer.save_checkpoint()` before calling `Trainer.{fit,validate,test,predict}`?")
        checkpoint = ckpt_connector.dump_checkpoint(self, weights_only)
        if self.is_global_zero:
            if deferred and self._ckpt_fence is not None:
                self._checkpoint_io._save(checkpoint, filepath, storage_options, self._step_written_storages)
            else:
                self._checkpoint_io.save_checkpoint(checkpoint, filepath, storage_options=storage_options)
            if self.state.status != TrainerStatus.RUNNING and hasattr(self._checkpoint_io, "wait"):
                self._checkpoint_io.wait()  # outside a run (e.g. after fit): durable on return
        self.strategy.barrier("Trainer.save_checkpoint")

    def _step_written_storages(self) -> set[int]:
        """data_ptrs of the storages only an optimizer step writes to: parameters and optimizer state."""
        ptrs = {p.untyped_storage().data_ptr() for p in self.lightning_module.parameters()}
        for opt in self.optimizers:
            for state in opt.state.values():
                ptrs.update(v.untyped_storage().data_ptr() for v in state.values() if isinstance(v, Tensor))
        return ptrs

    def _select_ckpt_path(self, ckpt_path: Optional[str]) -> Optional[str]:
        if ckpt_path is None and self.state.fn == TrainerFn.FITTING:  # an OnExceptionCheckpoint resumes a rerun
            from fastlit.callbacks.on_exception_checkpoint import _resume_path

            ckpt_path = _resume_path(self)
        if ckpt_path in ("best", "last"):
            cb = self.checkpoint_callback
            path = getattr(cb, "best_model_path" if ckpt_path == "best" else "last_model_path", "") if cb else ""
            if not path:
                raise ValueError(
                    f'`.{self.state.fn.value}(ckpt_path="{ckpt_path}")` is set but `ModelCheckpoint` has no '
                    f"{ckpt_path} checkpoint saved yet; pass a path, or train with checkpointing first.")
            return path
        return os.fspath(ckpt_path) if ckpt_path is not None else None

    def _restore_module_and_callbacks(self, ckpt_path: Optional[str],
                                      weights_only: Optional[bool]) -> Optional[dict[str, Any]]:
        """Load ``ckpt_path`` (if any) into the module and callbacks; return it for the training-state restore."""
        checkpoint = self._checkpoint_io.load_checkpoint(ckpt_path, weights_only=weights_only) if ckpt_path else None
        if checkpoint is not None:
            ckpt_connector.restore_module_and_callbacks(self, checkpoint)
        return checkpoint
