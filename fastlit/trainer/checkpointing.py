"""The Trainer side of checkpointing: which ``CheckpointIO`` writes, ``save_checkpoint``, what
``ckpt_path="best"/"last"`` means, loading a checkpoint at the start of a run, and the async staging fence.

What goes into a checkpoint and how each part is restored lives in ``fastlit.checkpoint.connector``.
"""
from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Callable, Optional, Union

from torch import Tensor

from fastlit.checkpoint import connector as ckpt_connector
from fastlit.checkpoint.io import CheckpointIO, TorchCheckpointIO
from fastlit.trainer.states import TrainerFn, TrainerStatus
from fastlit.utilities.exceptions import MisconfigurationException

if TYPE_CHECKING:
    from fastlit.trainer.trainer import Trainer


class CheckpointConnector:
    """Owns the Trainer's ``CheckpointIO`` and, per run, the staging fence of ``AsyncCheckpointIO``.

    With ``AsyncCheckpointIO(staging="deferred")`` a ModelCheckpoint save returns before its copy of the
    parameters and optimizer state is taken; ``fence`` (None otherwise) waits for that copy and must run before
    anything writes to them: the optimizer step (the fit loop calls it) and user hooks (the hook table calls it).

    Args:
        trainer: the Trainer whose state is saved and restored.
        plugins: ``Trainer(plugins=...)``: a ``CheckpointIO`` (the only plugin kind fastlit takes), or a list.
        async_checkpoint: wrap the IO in ``AsyncCheckpointIO`` (background writes).
    """

    def __init__(self, trainer: "Trainer", plugins: Optional[Any], async_checkpoint: bool) -> None:
        self.trainer = trainer
        self.io: CheckpointIO = TorchCheckpointIO()
        self.fence: Optional[Callable[[], None]] = None  # set per run by start_run()
        for p in plugins if isinstance(plugins, (list, tuple)) else ([plugins] if plugins is not None else []):
            if isinstance(p, CheckpointIO):
                self.io = p
            else:
                raise MisconfigurationException(f"Unsupported plugin {type(p).__name__}; fastlit accepts CheckpointIO plugins.")
        if async_checkpoint:
            from fastlit.checkpoint.async_io import AsyncCheckpointIO

            if not isinstance(self.io, AsyncCheckpointIO):
                self.io = AsyncCheckpointIO(self.io)

    def start_run(self) -> tuple[Optional[Callable], Optional[Callable]]:
        """Decide this run's ``fence``; return ``(fence, poll)`` for the hook table (poll: a failed background
        write raises at the next training step)."""
        io = self.io
        self.fence = io.fence if getattr(io, "staging", None) == "deferred" else None
        return self.fence, getattr(io, "poll", None)

    def save(self, filepath: Union[str, os.PathLike], weights_only: bool = False,
             storage_options: Optional[Any] = None, deferred: bool = False) -> None:
        """``Trainer.save_checkpoint``; ``deferred`` (ModelCheckpoint's saves): with a ``fence`` this run, the
        parameters and optimizer state are copied after this returns (the loop fences before writing them)."""
        t = self.trainer
        if t.lightning_module is None:
            raise AttributeError("Saving a checkpoint is only possible if a model is attached to the Trainer. Did you "
                                 "call `Trainer.save_checkpoint()` before calling `Trainer.{fit,validate,test,predict}`?")
        checkpoint = ckpt_connector.dump_checkpoint(t, weights_only)
        if t.is_global_zero:
            if deferred and self.fence is not None:
                self.io.save_deferred(checkpoint, filepath, storage_options, self._step_written_storages)
            else:
                self.io.save_checkpoint(checkpoint, filepath, storage_options=storage_options)
            if t.state.status != TrainerStatus.RUNNING and hasattr(self.io, "wait"):
                self.io.wait()  # outside a run (e.g. after fit): durable on return
        t.strategy.barrier("Trainer.save_checkpoint")

    def _step_written_storages(self) -> set[int]:
        """data_ptrs of the storages only an optimizer step writes to: parameters and optimizer state."""
        t = self.trainer
        ptrs = {p.untyped_storage().data_ptr() for p in t.lightning_module.parameters()}
        for opt in t.optimizers:
            for state in opt.state.values():
                ptrs.update(v.untyped_storage().data_ptr() for v in state.values() if isinstance(v, Tensor))
        return ptrs

    def select_path(self, ckpt_path: Optional[str]) -> Optional[str]:
        """The file a run restores from: ``ckpt_path`` with ``"best"``/``"last"`` resolved (or an
        OnExceptionCheckpoint's file when a fit is rerun after a failure)."""
        t = self.trainer
        if ckpt_path is None and t.state.fn == TrainerFn.FITTING:
            from fastlit.callbacks.on_exception_checkpoint import _resume_path

            ckpt_path = _resume_path(t)
        if ckpt_path in ("best", "last"):
            cb = t.checkpoint_callback
            path = getattr(cb, "best_model_path" if ckpt_path == "best" else "last_model_path", "") if cb else ""
            if not path:
                raise ValueError(
                    f'`.{t.state.fn.value}(ckpt_path="{ckpt_path}")` is set but `ModelCheckpoint` has no '
                    f"{ckpt_path} checkpoint saved yet; pass a path, or train with checkpointing first.")
            return path
        return os.fspath(ckpt_path) if ckpt_path is not None else None

    def restore_module_and_callbacks(self, ckpt_path: Optional[str],
                                     weights_only: Optional[bool]) -> Optional[dict[str, Any]]:
        """Load ``ckpt_path`` (if any) into the module and callbacks; return it for the training-state restore."""
        checkpoint = self.io.load_checkpoint(ckpt_path, weights_only=weights_only) if ckpt_path else None
        if checkpoint is not None:
            ckpt_connector.restore_module_and_callbacks(self.trainer, checkpoint)
        return checkpoint

    def teardown(self) -> None:
        """End of a run (or its failure): pending background writes finish and raise their errors."""
        self.io.teardown()
