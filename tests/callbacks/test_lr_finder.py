"""LearningRateFinder as a callback: the range test runs at fit start, then training continues with the suggested
LR from the untouched weights and random state, exactly as in Lightning."""
from __future__ import annotations

import warnings
from typing import Any

import pytest
import torch
from torch.utils.data import DataLoader
from tuner.tuner_models import models, quiet_trainer, regression_loader, state_of

import fastlit
from fastlit.callbacks import LearningRateFinder


def _fit(pl: Any, root: str, callback_cls: Any = None, **kw: Any) -> tuple:
    torch.manual_seed(0)
    model = models(pl).LRModel()
    finder = (callback_cls or pl.callbacks.LearningRateFinder)(**kw)
    trainer = quiet_trainer(pl, default_root_dir=root, callbacks=[finder], max_epochs=2, limit_val_batches=3)
    # separate validation data: fastlit's eval loop reads one batch past `limit_val_batches` (reported), which
    # would move a shared shuffling generator
    val = DataLoader(regression_loader(n=64).dataset, batch_size=8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer.fit(model, regression_loader(n=200), val)
    return (finder.optimal_lr.suggestion(), model.hparams.lr, trainer.optimizers[0].param_groups[0]["lr"],
            trainer.global_step, state_of(model), finder.optimal_lr.results["lr"])


@pytest.mark.parametrize("kw", [dict(num_training_steps=20), dict(mode="linear", min_lr=1e-3, max_lr=0.5,
                                                                  num_training_steps=25),
                                dict(num_training_steps=20, update_attr=False)])
def test_fit_continues_with_the_suggestion_like_lightning(tmp_path, lightning, kw):
    ours = _fit(fastlit, str(tmp_path / "f"), **kw)
    theirs = _fit(lightning, str(tmp_path / "l"), **kw)
    assert ours[:4] == theirs[:4]  # suggestion, the model's lr, the optimizer's lr, steps
    assert ours[5] == theirs[5]
    for k in ours[4]:
        torch.testing.assert_close(ours[4][k], theirs[4][k])  # same training after the search
    if kw.get("update_attr", True):
        assert ours[1] == ours[2] == ours[0]
    else:
        assert ours[1] == ours[2] == 0.01


def test_search_at_a_milestone(tmp_path, lightning):
    """Lightning's documented subclass: search again at a chosen epoch instead of at fit start.

    Under Lightning this records no point at all (its divergence check counts from global step 0 and stops the
    search at once); fastlit counts from the search's first step, so the milestone search works.
    """

    class Milestones(LearningRateFinder):
        def on_fit_start(self, *args: Any, **kwargs: Any) -> None:
            return

        def on_train_epoch_start(self, trainer: Any, pl_module: Any) -> None:
            if trainer.current_epoch == 1:
                self.before = state_of(pl_module)
                self.lr_find(trainer, pl_module)
                self.after = state_of(pl_module)
                self.steps = trainer.global_step

    ours = _fit(fastlit, str(tmp_path / "f"), Milestones, num_training_steps=20, max_lr=0.1)
    finder_lrs = ours[5]
    assert 12 <= len(finder_lrs) <= 20 and ours[0] is not None and ours[1] == ours[2] == ours[0]
    assert ours[3] == 50  # the two real epochs still ran in full


def test_arguments():
    with pytest.raises(ValueError, match="`mode` should be either of"):
        LearningRateFinder(mode="cosine")
    cb = LearningRateFinder()
    assert (cb._min_lr, cb._max_lr, cb._num_training_steps, cb._mode, cb._early_stop_threshold, cb._update_attr) == \
        (1e-8, 1, 100, "exponential", 4.0, True)
    assert cb.optimal_lr is None
