"""``LoopState`` (``trainer._loop``): its ``state_dict`` is Lightning's ``loops`` layout at every point of a run,
``load_state_dict`` continues from it, ``snapshot``/``restore`` put every field back, and the Trainer's public
counters are views of it."""
from __future__ import annotations

from typing import Any

import pytest
import torch

import fastlit
from fastlit.trainer.loop_state import LoopState
from helpers import models, quiet, randn_loader

pl_lightning = pytest.importorskip("pytorch_lightning")

# the parts of checkpoint["loops"]["fit_loop"] fastlit mirrors (the rest Lightning fills with its eval loops'
# progress, which no resume reads)
_FIT_KEYS = ("epoch_progress", "epoch_loop.batch_progress", "epoch_loop.state_dict",
             "epoch_loop.automatic_optimization.optim_progress")


def _loops(pl: Any, trainer: Any) -> dict[str, Any]:
    if pl is fastlit:
        return trainer._loop.state_dict(training=trainer.training)
    return trainer._checkpoint_connector._get_loops_state_dict()


def _record_loops(pl: Any) -> list[tuple[str, dict[str, Any]]]:
    """``checkpoint["loops"]["fit_loop"]`` as each framework would save it at the train hooks where checkpoints are
    saved (not ``on_train_epoch_start``, where Lightning has an epoch "ready" but not yet "started" and fastlit
    counts it started)."""
    seen: list[tuple[str, dict[str, Any]]] = []

    class Recorder(pl.Callback):
        def _take(self, trainer: Any, where: str) -> None:
            fit = _loops(pl, trainer)["fit_loop"]
            seen.append((where, {k: fit[k] for k in _FIT_KEYS}))

        def on_train_batch_end(self, trainer: Any, _m: Any, _o: Any, _b: Any, batch_idx: int) -> None:
            self._take(trainer, f"batch_end {batch_idx}")

        def on_train_epoch_end(self, trainer: Any, *_: Any) -> None:
            self._take(trainer, "epoch_end")

    torch.manual_seed(0)
    trainer = pl.Trainer(**quiet(max_epochs=2, limit_train_batches=3, callbacks=[Recorder()], logger=False,
                                 enable_checkpointing=False))
    trainer.fit(models(pl).BoringModel(), randn_loader(16), randn_loader(8))
    seen.append(("after fit", {"epoch_progress": _loops(pl, trainer)["fit_loop"]["epoch_progress"]}))
    return seen


def test_state_dict_is_lightnings_loops_layout_throughout_a_run() -> None:
    ours, theirs = _record_loops(fastlit), _record_loops(pl_lightning)
    assert [w for w, _ in ours] == [w for w, _ in theirs]
    for (where, a), (_, b) in zip(ours, theirs):
        assert a == b, where


def _mid_run() -> LoopState:
    state = LoopState()
    state.current_epoch, state.global_step, state.batches_that_stepped = 1, 5, 5
    state.total_batches_done, state.epoch_batches_done = 6, 2
    state.in_train_epoch, state.epoch_start_step = True, 3
    state.epoch_rng = torch.get_rng_state()
    return state


def test_load_state_dict_continues_mid_epoch_after_the_trained_batches() -> None:
    saved = _mid_run()
    rng = saved.rng_state()
    assert rng is not None and torch.equal(rng["epoch_torch_rng"], saved.epoch_rng)
    loaded = LoopState()
    loaded.load_state_dict(saved.state_dict(training=True), saved.global_step, accumulate_grad_batches=1,
                           resume_rng=rng)
    assert (loaded.current_epoch, loaded.global_step, loaded.batches_that_stepped, loaded.total_batches_done) == \
        (1, 5, 5, 6)
    assert loaded.resume_skip_batches == 2 and loaded.resume_rng is rng and loaded.resuming


def test_load_state_dict_after_batch_end_or_epoch_end() -> None:
    saved = _mid_run()
    saved.in_batch_end = True  # saved in on_train_batch_end: Lightning counts that batch's step on restart
    loaded = LoopState()
    loaded.load_state_dict(saved.state_dict(training=True), saved.global_step, accumulate_grad_batches=1)
    assert loaded.batches_that_stepped == 6 and loaded.resume_skip_batches == 2
    loaded = LoopState()  # ... unless that batch was still accumulating
    loaded.load_state_dict(saved.state_dict(training=True), saved.global_step, accumulate_grad_batches=4)
    assert loaded.batches_that_stepped == 5

    saved = _mid_run()
    saved.epoch_end_phase = True  # saved in the training epoch-end hooks: the next run starts the next epoch
    assert saved.rng_state() is None  # epoch-end checkpoints keep Lightning's key set
    loaded = LoopState()
    loaded.load_state_dict(saved.state_dict(training=True), saved.global_step, accumulate_grad_batches=1)
    assert (loaded.current_epoch, loaded.resume_skip_batches) == (2, 0)
    # the same phase flag during validation (not training) does not count the epoch as processed
    loaded = LoopState()
    loaded.load_state_dict(saved.state_dict(training=False), saved.global_step, accumulate_grad_batches=1)
    assert (loaded.current_epoch, loaded.resume_skip_batches) == (1, 2)


def test_snapshot_and_restore_cover_every_field() -> None:
    state = _mid_run()
    snap = state.snapshot()
    for i, name in enumerate(LoopState.__slots__):
        setattr(state, name, object() if name.endswith("rng") else 100 + i)
    assert all(getattr(snap, name) != getattr(state, name) for name in LoopState.__slots__)
    state.restore(snap)
    assert all(getattr(snap, name) is getattr(state, name) for name in LoopState.__slots__)
    assert (state.current_epoch, state.global_step, state.epoch_batches_done) == (1, 5, 2)


def test_trainer_counters_are_views_of_the_loop_state() -> None:
    trainer = fastlit.Trainer(**quiet(max_epochs=1, limit_train_batches=2, logger=False, enable_checkpointing=False))
    trainer.fit(models(fastlit).BoringModel(), randn_loader(16))
    loop = trainer._loop
    assert (trainer.current_epoch, trainer.global_step, trainer.fit_loop.epoch_loop._batches_that_stepped) == \
        (loop.current_epoch, loop.global_step, loop.batches_that_stepped) == (1, 2, 2)
    trainer.global_step, trainer.current_epoch = 7, 3  # settable, as before
    assert (loop.global_step, loop.current_epoch, trainer.fit_loop.global_step) == (7, 3, 7)
