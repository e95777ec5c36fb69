"""Where the fit loop stands: epoch, step and batch counters, and what an exact mid-epoch resume needs.

One object, ``trainer._loop``, holds all of it. The loops write it (``fit_loop`` reads it into a local once per
epoch); checkpoints save and load it in Lightning's ``loops`` layout (``state_dict``/``load_state_dict``, called
by ``checkpoint/connector.py``); the Tuner's trial runs ``snapshot`` it and ``restore`` it afterwards; and
``trainer.current_epoch``, ``trainer.global_step`` and ``trainer.fit_loop`` are views of it.
"""
from __future__ import annotations

import random
import sys
from typing import Any, Optional

import torch

from fastlit.utilities.rank_zero import rank_zero_warn


class LoopState:
    """The fit loop's counters and resume position; a fresh run starts with every counter at zero.

    Attributes:
        current_epoch: epochs finished (Lightning's ``trainer.current_epoch``).
        global_step: optimizer steps taken (Lightning's ``trainer.global_step``).
        batches_that_stepped: training batches that ended with an optimizer step (or any batch, under manual
            optimization); the step axis of logged metrics.
        total_batches_done / epoch_batches_done: training batches finished in the run / in the current epoch.
        is_last_batch: the batch being trained is the epoch's last.
        in_train_epoch: a training epoch has started and its epoch-end hooks have not finished.
        epoch_start_step: ``global_step`` when the current epoch started.
        in_batch_end: inside ``on_train_batch_end`` (a checkpoint saved now counts the batch as processed only).
        epoch_end_phase: inside a loop's epoch-end hooks (training or evaluation).
        resuming: this fit restored its loop position from a checkpoint.
        resume_skip_batches: batches of the first epoch already trained before a mid-epoch checkpoint.
        resume_rng: that checkpoint's RNG states (see ``rng_state``), replayed by the fit loop.
        epoch_rng: the torch RNG state at this epoch's ``iter(loader)``, which decides its shuffle order.
    """

    __slots__ = ("current_epoch", "global_step", "batches_that_stepped", "total_batches_done", "epoch_batches_done",
                 "is_last_batch", "in_train_epoch", "epoch_start_step", "in_batch_end", "epoch_end_phase",
                 "resuming", "resume_skip_batches", "resume_rng", "epoch_rng")

    def __init__(self) -> None:
        self.current_epoch = 0
        self.global_step = 0
        self.batches_that_stepped = 0
        self.total_batches_done = 0
        self.epoch_batches_done = 0
        self.is_last_batch = False
        self.in_train_epoch = False
        self.epoch_start_step = 0
        self.in_batch_end = False
        self.epoch_end_phase = False
        self.resuming = False
        self.resume_skip_batches = 0
        self.resume_rng: Optional[dict[str, Any]] = None
        self.epoch_rng: Optional[torch.Tensor] = None

    # ------------------------------------------------------------------------------------------ trial runs
    def snapshot(self) -> LoopState:
        """A copy of every field (the Tuner takes one before its trial runs)."""
        copy = LoopState.__new__(LoopState)
        copy.restore(self)
        return copy

    def restore(self, snapshot: LoopState) -> None:
        """Put every field back as ``snapshot`` has it."""
        for name in LoopState.__slots__:
            setattr(self, name, getattr(snapshot, name))

    # ------------------------------------------------------------------------------------------ checkpoints
    def state_dict(self, training: bool) -> dict[str, Any]:
        """``checkpoint["loops"]`` as Lightning 2.x writes it; ``training``: the trainer is in its training stage.

        Lightning's counters at the moment of saving: an epoch is "started" once it runs and "processed" in its
        (training) epoch-end hooks; a batch is "processed" but not yet "completed" during ``on_train_batch_end``.
        """
        in_epoch_end = bool(self.epoch_end_phase) and training
        epochs_processed = self.current_epoch + (1 if in_epoch_end else 0)
        epochs_started = self.current_epoch + (1 if self.in_train_epoch else 0)
        batches = self.epoch_batches_done
        pending = 1 if self.in_batch_end else 0
        total_batches = self.total_batches_done
        steps = self.global_step
        epoch_steps = steps - self.epoch_start_step if self.in_train_epoch else 0
        eval_zero = {"batch_progress": {"current": _progress(0, 0), "total": _progress(0, 0), "is_last_batch": False},
                     "state_dict": {}}
        return {
            "fit_loop": {
                "state_dict": {},
                "epoch_loop.state_dict": {"_batches_that_stepped": self.batches_that_stepped},
                "epoch_loop.batch_progress": {
                    "total": _counts(total_batches, total_batches, total_batches - pending),
                    "current": _counts(batches, batches, batches - pending),
                    "is_last_batch": bool(self.is_last_batch),
                },
                "epoch_loop.scheduler_progress": {"total": {"ready": 0, "completed": 0},
                                                  "current": {"ready": 0, "completed": 0}},
                "epoch_loop.automatic_optimization.state_dict": {},
                "epoch_loop.automatic_optimization.optim_progress": {"optimizer": {
                    "step": {"total": {"ready": steps, "completed": steps},
                             "current": {"ready": epoch_steps, "completed": epoch_steps}},
                    "zero_grad": {"total": _progress(steps, steps, processed=False),
                                  "current": _progress(epoch_steps, epoch_steps, processed=False)}}},
                "epoch_loop.manual_optimization.state_dict": {},
                "epoch_loop.manual_optimization.optim_step_progress": {
                    "total": {"ready": 0, "completed": 0}, "current": {"ready": 0, "completed": 0}},
                "epoch_loop.val_loop.state_dict": {},
                "epoch_loop.val_loop.batch_progress": eval_zero["batch_progress"],
                "epoch_progress": {
                    "total": _counts(epochs_started, epochs_processed, self.current_epoch),
                    "current": _counts(epochs_started, epochs_processed, self.current_epoch),
                },
            },
            "validate_loop": eval_zero, "test_loop": eval_zero, "predict_loop": {
                "batch_progress": {"current": _progress(0, 0), "total": _progress(0, 0)}, "state_dict": {}},
        }

    def load_state_dict(self, loops: dict[str, Any], global_step: int, accumulate_grad_batches: int,
                        resume_rng: Optional[dict[str, Any]] = None) -> None:
        """Continue from a checkpoint's ``loops`` entry (written by Lightning 2.x or fastlit, which has a
        ``fit_loop``), its ``global_step``, and its ``fastlit_resume_rng`` (None when absent).

        Saved at (or after) an epoch's end, the run continues with the next epoch; saved mid-epoch, it continues in
        that epoch after the batches already trained (``resume_skip_batches``).
        """
        fit = loops["fit_loop"]
        self.global_step = global_step
        ep = fit["epoch_progress"]["current"]
        bp = fit["epoch_loop.batch_progress"]
        self.batches_that_stepped = int(fit["epoch_loop.state_dict"].get("_batches_that_stepped", global_step))
        # saved in on_train_batch_end, the batch is "processed" but not "completed", and its optimizer step is not
        # yet counted in _batches_that_stepped: Lightning finishes both on restart (unless still accumulating)
        done = int(bp["current"].get("processed", bp["current"]["completed"]))
        total_done = int(bp["total"].get("processed", bp["total"]["completed"]))
        if int(bp["total"]["completed"]) == total_done - 1 and (done % accumulate_grad_batches == 0
                                                                 or bp.get("is_last_batch")):
            self.batches_that_stepped += 1
        self.total_batches_done = total_done
        if ep["processed"] > ep["completed"] or bp.get("is_last_batch"):
            self.current_epoch = int(ep["processed"]) if ep["processed"] > ep["completed"] else int(ep["completed"]) + 1
        else:
            self.current_epoch = int(ep["completed"])
            self.resume_skip_batches = done
            self.resume_rng = resume_rng
            if done:
                rank_zero_warn("Resuming from a mid-epoch checkpoint: the first "
                               f"{done} batches of epoch {self.current_epoch} are skipped.")
        self.resuming = True

    def rng_state(self) -> Optional[dict[str, Any]]:
        """What a mid-epoch checkpoint stores under ``fastlit_resume_rng`` for an exact resume: the torch RNG at
        the epoch's ``iter(loader)`` (its shuffle order) and every RNG now, in plain types (weights-only loading
        reads them). None outside an epoch's batches: epoch-end checkpoints keep Lightning's exact key set."""
        if not self.in_train_epoch or self.epoch_end_phase or self.is_last_batch or self.epoch_rng is None:
            return None
        state: dict[str, Any] = {"epoch_torch_rng": self.epoch_rng, "torch_rng": torch.get_rng_state(),
                                 "python_rng": random.getstate()}
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            state["cuda_rng"] = torch.cuda.get_rng_state_all()
        # numpy's global RandomState, if anyone imported numpy (if not, nobody drew from it; fastlit never imports it)
        np = sys.modules.get("numpy")
        if np is not None:
            name, keys, pos, has_gauss, cached_gauss = np.random.get_state(legacy=True)
            state["numpy_rng"] = (str(name), torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss),
                                  float(cached_gauss))
        return state


def restore_rng(state: dict[str, Any]) -> None:
    """Set every RNG from ``LoopState.rng_state``'s dict (after the resumed epoch's skipped batches)."""
    torch.set_rng_state(state["torch_rng"])
    random.setstate(state["python_rng"])
    if "cuda_rng" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda_rng"])
    if "numpy_rng" in state:
        try:
            import numpy as np
        except ImportError:  # saved where numpy was in use, resumed where it is not installed: nothing draws from it
            return
        name, keys, pos, has_gauss, cached_gauss = state["numpy_rng"]
        np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached_gauss))


def _progress(ready: int, completed: int, started: bool = True, processed: bool = True) -> dict[str, Any]:
    d: dict[str, Any] = {"ready": ready, "completed": completed}
    if started:
        d["started"] = ready
    if processed:
        d["processed"] = completed
    return d


def _counts(started: int, processed: int, completed: int) -> dict[str, int]:
    return {"ready": started, "started": started, "processed": processed, "completed": completed}
