"""GradientAccumulationScheduler: per-epoch factors, optimizer steps and final weights equal Lightning's."""
from __future__ import annotations

import warnings
from typing import Any

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

import fastlit
from fastlit.callbacks import GradientAccumulationScheduler
from fastlit.utilities.exceptions import MisconfigurationException


def _fit(pl: Any, scheduling: dict, manual: bool = False, **trainer_kw: Any) -> tuple[Any, list, list, dict]:
    torch.manual_seed(0)
    seen: list[tuple[int, int]] = []  # (epoch, accumulate_grad_batches) at each epoch's first batch
    steps: list[int] = []  # global_step after each epoch

    class Model(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.layer = torch.nn.Linear(3, 1)
            self.automatic_optimization = not manual

        def training_step(self, batch: Any, batch_idx: int) -> Any:
            if batch_idx == 0:
                seen.append((self.current_epoch, self.trainer.accumulate_grad_batches))
            x, y = batch
            return torch.nn.functional.mse_loss(self.layer(x), y)

        def on_train_epoch_end(self) -> None:
            steps.append(self.trainer.global_step)

        def configure_optimizers(self) -> Any:
            return torch.optim.SGD(self.parameters(), lr=0.1)

    g = torch.Generator().manual_seed(1)
    loader = DataLoader(TensorDataset(torch.randn(14, 3, generator=g), torch.randn(14, 1, generator=g)), batch_size=2)
    trainer = pl.Trainer(max_epochs=4, logger=False, enable_progress_bar=False, enable_model_summary=False,
                         enable_checkpointing=False, callbacks=[pl.callbacks.GradientAccumulationScheduler(scheduling)],
                         **trainer_kw)
    model = Model()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer.fit(model, loader)
    return trainer, seen, steps, {k: v.detach().clone() for k, v in model.state_dict().items()}


@pytest.mark.parametrize("scheduling", [{1: 2, 2: 3}, {0: 4}, {2: 7}, {0: 2, 3: 1}])
def test_matches_lightning(lightning, scheduling):
    ours = _fit(fastlit, dict(scheduling))
    theirs = _fit(lightning, dict(scheduling))
    assert ours[1] == theirs[1]  # factor in force each epoch
    assert ours[2] == theirs[2]  # optimizer steps per epoch (7 batches: the last, partial window also steps)
    for k in ours[3]:
        torch.testing.assert_close(ours[3][k], theirs[3][k])


def test_factors_per_epoch():
    _, seen, steps, _ = _fit(fastlit, {1: 2, 2: 3})
    assert seen == [(0, 1), (1, 2), (2, 3), (3, 3)]
    assert steps == [7, 7 + 4, 7 + 4 + 3, 7 + 4 + 3 + 3]


def test_schedule_lookup_and_implicit_first_epoch():
    sched = {4: 2}
    cb = GradientAccumulationScheduler(sched)
    assert cb.scheduling == {4: 2, 0: 1} and sched == {4: 2, 0: 1}  # like Lightning, the dict gains epoch 0
    assert [cb.get_accumulate_grad_batches(e) for e in range(6)] == [1, 1, 1, 1, 2, 2]
    assert cb.going_to_accumulate_grad_batches()
    assert not GradientAccumulationScheduler({0: 1}).going_to_accumulate_grad_batches()


def test_bad_schedules():
    with pytest.raises(TypeError, match="Empty dict"):
        GradientAccumulationScheduler({})
    with pytest.raises(MisconfigurationException, match="Epoch should be an int greater than or equal to 0"):
        GradientAccumulationScheduler({-1: 2})
    with pytest.raises(MisconfigurationException, match="Epoch should be an int"):
        GradientAccumulationScheduler({"1": 2})
    with pytest.raises(MisconfigurationException, match="Accumulation factor should be an int greater than 0"):
        GradientAccumulationScheduler({1: 0})


def test_trainer_accumulation_conflicts(lightning):
    for pl in (fastlit, lightning):
        with pytest.raises(ValueError, match="Either remove `accumulate_grad_batches` from the Trainer"):
            _fit(pl, {1: 2}, accumulate_grad_batches=2)


def test_manual_optimization_is_refused(lightning):
    for pl in (fastlit, lightning):
        with pytest.raises(RuntimeError, match="not supported for\\s+manual optimization"):
            _fit(pl, {1: 2}, manual=True)
