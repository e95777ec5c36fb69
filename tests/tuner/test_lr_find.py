"""Tuner.lr_find: the same LRs, smoothed losses, suggestion and restored state as Lightning."""
from __future__ import annotations

import random
import warnings
from typing import Any

import pytest
import torch
from tuner.tuner_models import Messages, models, quiet_trainer, regression_loader, state_of, tuner_of

import fastlit
from fastlit.tuner import Tuner
from fastlit.tuner.lr_finder import _LRFinder
from fastlit.utilities.exceptions import MisconfigurationException


def _find(pl: Any, root: str, **kw: Any) -> tuple:
    torch.manual_seed(0)
    random.seed(0)
    model = models(pl).LRModel()
    before = state_of(model)
    trainer = quiet_trainer(pl, max_epochs=kw.pop("max_epochs", 1), default_root_dir=root)
    loader = regression_loader()
    with warnings.catch_warnings(), Messages() as messages:
        warnings.simplefilter("ignore")
        result = tuner_of(pl)(trainer).lr_find(model, loader, loader, **kw)
    after = state_of(model)
    return (result.results["lr"], result.results["loss"], result.suggestion(), model.hparams.lr,
            all(torch.equal(before[k], after[k]) for k in before), trainer.global_step, messages.lines,
            torch.rand(3).tolist(), random.random(), trainer.optimizers[0].param_groups[0]["lr"])


CASES = [dict(), dict(mode="linear", num_training=60), dict(early_stop_threshold=None, max_lr=100.0),
         dict(max_lr=100.0), dict(min_lr=1e-4, max_lr=10.0, num_training=30, max_epochs=2),
         dict(update_attr=False), dict(num_training=12)]


@pytest.mark.parametrize("kw", CASES, ids=[str(i) for i in range(len(CASES))])
def test_same_results_as_lightning(tmp_path, lightning, kw):
    ours = _find(fastlit, str(tmp_path / "f"), **dict(kw))
    theirs = _find(lightning, str(tmp_path / "l"), **dict(kw))
    assert ours[0] == theirs[0]  # the LR at each step
    assert ours[1] == pytest.approx(theirs[1], rel=1e-6, nan_ok=True)  # smoothed losses
    assert ours[2:] == theirs[2:]  # suggestion, lr attribute, weights restored, steps, messages, RNG, optimizer lr


def test_exponential_schedule_and_attribute_update(tmp_path):
    lrs, losses, suggestion, lr_attr, restored, steps, _, _, _, opt_lr = _find(fastlit, str(tmp_path), num_training=30)
    assert len(lrs) == len(losses) == 30 and lrs[0] == 1e-8
    ratios = [b / a for a, b in zip(lrs[1:], lrs[2:])]
    assert ratios == pytest.approx([10 ** (8 / 30)] * len(ratios))  # geometric towards max_lr=1
    assert lr_attr == suggestion == opt_lr and suggestion in lrs
    assert restored and steps == 0  # the range test leaves the model and the counters as they were


def test_diverging_loss_stops_early(tmp_path):
    lrs, *_ = _find(fastlit, str(tmp_path), max_lr=1e4, num_training=50)
    assert 10 < len(lrs) < 50


def test_suggestion_rules(lightning):
    from pytorch_lightning.tuner.lr_finder import _LRFinder as TheirFinder

    results = {"lr": [float(i) for i in range(1, 21)],
               "loss": [5.0] * 10 + [4.0, 3.0, 1.0, 0.9, float("nan"), 0.8, 0.7, 0.6, 0.5, 0.4]}
    ours, theirs = _LRFinder("exponential", 1e-3, 1.0, 20), TheirFinder("exponential", 1e-3, 1.0, 20)
    ours.results = theirs.results = results
    # steepest (central-difference) descent after skipping 10 points at the start and 1 at the end, NaN ignored:
    # at lr=12 the slope is (1 - 4) / 2
    assert ours.suggestion() == theirs.suggestion() == 12.0
    assert ours._optimal_idx == theirs._optimal_idx == 11
    for kw in (dict(skip_begin=12), dict(skip_begin=0, skip_end=5), dict(skip_begin=3, skip_end=2)):
        assert ours.suggestion(**kw) == theirs.suggestion(**kw)
    ours.results = {"lr": [1.0, 2.0, 3.0], "loss": [3.0, 2.0, 1.0]}
    assert ours.suggestion() is None and ours._optimal_idx is None  # too few points


def test_plot_needs_matplotlib():
    finder = _LRFinder("linear", 1e-3, 1.0, 3)
    finder.results = {"lr": [1e-3, 0.5, 1.0], "loss": [1.0, 0.5, 0.7]}
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        with pytest.raises(MisconfigurationException, match="pip install -U matplotlib"):
            finder.plot()
    else:
        fig = finder.plot(suggest=True)
        assert fig is not None


def test_configuration_errors(tmp_path):
    loader = regression_loader()
    trainer = quiet_trainer(fastlit, default_root_dir=str(tmp_path))
    with pytest.raises(MisconfigurationException, match="method='fit' is the only valid configuration"):
        Tuner(trainer).lr_find(models(fastlit).LRModel(), method="test")
    with pytest.raises(MisconfigurationException, match="`dataloaders` argument should be None"):
        Tuner(trainer).lr_find(models(fastlit).LRModel(), dataloaders=loader)

    class NoLR(models(fastlit).LRModel):
        def __init__(self) -> None:
            super().__init__()
            del self.hparams["lr"]

        def configure_optimizers(self) -> Any:
            return torch.optim.SGD(self.parameters(), lr=0.1)

    with pytest.raises(AttributeError, match="should have one of these fields: \\('lr', 'learning_rate'\\)"):
        Tuner(quiet_trainer(fastlit)).lr_find(NoLR(), loader)
    with pytest.raises(AttributeError, match="was set to my_lr, but could not find"):
        Tuner(quiet_trainer(fastlit)).lr_find(NoLR(), loader, attr_name="my_lr")

    class TwoOptimizers(models(fastlit).LRModel):
        def __init__(self) -> None:
            super().__init__()
            self.automatic_optimization = False

        def training_step(self, batch: Any, batch_idx: int) -> None:
            pass

        def configure_optimizers(self) -> Any:
            return [torch.optim.SGD(self.net[0].parameters(), lr=0.1), torch.optim.SGD(self.net[2].parameters(), lr=0.1)]

    with pytest.raises(MisconfigurationException, match="returned 2, but learning rate finder only works with single"):
        Tuner(quiet_trainer(fastlit)).lr_find(TwoOptimizers(), loader)
    busy = quiet_trainer(fastlit, callbacks=[fastlit.callbacks.LearningRateFinder()])
    with pytest.raises(ValueError, match="already configured with a `LearningRateFinder`"):
        Tuner(busy).lr_find(models(fastlit).LRModel(), loader)


def test_custom_attribute_name(tmp_path):
    class MyLR(models(fastlit).LRModel):
        def __init__(self) -> None:
            super().__init__()
            self.step_size = 0.01

        def configure_optimizers(self) -> Any:
            return torch.optim.SGD(self.parameters(), lr=self.step_size)

    model = MyLR()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = Tuner(quiet_trainer(fastlit, default_root_dir=str(tmp_path))).lr_find(
            model, regression_loader(), attr_name="step_size", num_training=30)
    assert model.step_size == result.suggestion() and model.hparams.lr == 0.01


def test_fast_dev_run_skips(tmp_path):
    trainer = quiet_trainer(fastlit, fast_dev_run=True, default_root_dir=str(tmp_path))
    with pytest.warns(UserWarning, match="Skipping learning rate finder since `fast_dev_run` is enabled."):
        assert Tuner(trainer).lr_find(models(fastlit).LRModel(), regression_loader()) is None
