"""The deep import paths Lightning 2.x users write exist under fastlit (same object as the short path), and the
demo classes every Lightning bug report starts from behave like Lightning's."""
from __future__ import annotations

import importlib
import warnings

import pytest
import torch

import fastlit

# (module path, attribute) that Lightning 2.x code imports, with `pytorch_lightning` replaced by `fastlit`
REQUIRED = [
    ("fastlit", "__version__"),
    ("fastlit.core.module", "LightningModule"),
    ("fastlit.core.datamodule", "LightningDataModule"),
    ("fastlit.core.optimizer", "LightningOptimizer"),
    ("fastlit.core.mixins", "HyperparametersMixin"),
    ("fastlit.core.saving", "load_hparams_from_yaml"),
    ("fastlit.callbacks.early_stopping", "EarlyStopping"),
    ("fastlit.callbacks.model_checkpoint", "ModelCheckpoint"),
    ("fastlit.callbacks.timer", "Timer"),
    ("fastlit.loggers.csv_logs", "CSVLogger"),
    ("fastlit.trainer.trainer", "Trainer"),
    ("fastlit.trainer.states", "TrainerFn"),
    ("fastlit.trainer.states", "TrainerStatus"),
    ("fastlit.trainer.states", "RunningStage"),
    ("fastlit.tuner.tuning", "Tuner"),
    ("fastlit.profilers.simple", "SimpleProfiler"),
    ("fastlit.utilities.exceptions", "MisconfigurationException"),
    ("fastlit.utilities.rank_zero", "rank_zero_only"),
    ("fastlit.utilities.model_helpers", "is_overridden"),
    ("fastlit.utilities.types", "STEP_OUTPUT"),
    ("fastlit.utilities", "AttributeDict"),
    ("fastlit.demos.boring_classes", "BoringModel"),
    # the callbacks and tuner pieces of this surface
    ("fastlit.callbacks.lr_monitor", "LearningRateMonitor"),
    ("fastlit.callbacks.gradient_accumulation_scheduler", "GradientAccumulationScheduler"),
    ("fastlit.callbacks.lambda_function", "LambdaCallback"),
    ("fastlit.callbacks.on_exception_checkpoint", "OnExceptionCheckpoint"),
    ("fastlit.callbacks.prediction_writer", "BasePredictionWriter"),
    ("fastlit.callbacks.batch_size_finder", "BatchSizeFinder"),
    ("fastlit.callbacks.lr_finder", "LearningRateFinder"),
    ("fastlit.callbacks.device_stats_monitor", "DeviceStatsMonitor"),
    ("fastlit.tuner", "Tuner"),
    ("fastlit.tuner.lr_finder", "_LRFinder"),
    ("fastlit.demos.boring_classes", "BoringDataModule"),
    ("fastlit.demos.boring_classes", "RandomDataset"),
    ("fastlit.demos.boring_classes", "RandomIterableDataset"),
    ("fastlit.demos.boring_classes", "ManualOptimBoringModel"),
    ("fastlit.demos.boring_classes", "DemoModel"),
]

# short path -> deep path: the same object
SAME = [
    ("fastlit.LightningModule", "fastlit.core.module.LightningModule"),
    ("fastlit.LightningDataModule", "fastlit.core.datamodule.LightningDataModule"),
    ("fastlit.Trainer", "fastlit.trainer.trainer.Trainer"),
    ("fastlit.tuner.Tuner", "fastlit.tuner.tuning.Tuner"),
    ("fastlit.callbacks.Timer", "fastlit.callbacks.timer.Timer"),
    ("fastlit.callbacks.LearningRateMonitor", "fastlit.callbacks.lr_monitor.LearningRateMonitor"),
    ("fastlit.callbacks.GradientAccumulationScheduler",
     "fastlit.callbacks.gradient_accumulation_scheduler.GradientAccumulationScheduler"),
    ("fastlit.callbacks.LambdaCallback", "fastlit.callbacks.lambda_function.LambdaCallback"),
    ("fastlit.callbacks.OnExceptionCheckpoint", "fastlit.callbacks.on_exception_checkpoint.OnExceptionCheckpoint"),
    ("fastlit.callbacks.BasePredictionWriter", "fastlit.callbacks.prediction_writer.BasePredictionWriter"),
    ("fastlit.callbacks.BatchSizeFinder", "fastlit.callbacks.batch_size_finder.BatchSizeFinder"),
    ("fastlit.callbacks.LearningRateFinder", "fastlit.callbacks.lr_finder.LearningRateFinder"),
    ("fastlit.callbacks.DeviceStatsMonitor", "fastlit.callbacks.device_stats_monitor.DeviceStatsMonitor"),
    ("fastlit.demos.BoringModel", "fastlit.demos.boring_classes.BoringModel"),
    ("fastlit.utilities.MisconfigurationException", "fastlit.utilities.exceptions.MisconfigurationException"),
    ("fastlit.utilities.rank_zero_only", "fastlit.utilities.rank_zero.rank_zero_only"),
    ("fastlit.utilities.is_overridden", "fastlit.utilities.model_helpers.is_overridden"),
]


def _resolve(path: str):
    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)


@pytest.mark.parametrize(("module", "name"), REQUIRED, ids=[f"{m}.{n}" for m, n in REQUIRED])
def test_deep_path_exists(module, name):
    assert hasattr(importlib.import_module(module), name)


@pytest.mark.parametrize(("short", "deep"), SAME, ids=[s for s, _ in SAME])
def test_short_and_deep_paths_are_the_same_object(short, deep):
    assert _resolve(short) is _resolve(deep)


@pytest.mark.parametrize(("module", "name"), REQUIRED, ids=[f"{m}.{n}" for m, n in REQUIRED])
def test_lightning_has_the_same_path(lightning, module, name):
    """Guards the list itself: every path here is one Lightning 2.x really has."""
    theirs = importlib.import_module(module.replace("fastlit", "pytorch_lightning", 1))
    assert hasattr(theirs, name)


def test_misconfiguration_is_an_exception_subclass():
    from fastlit.utilities.exceptions import MisconfigurationException

    assert issubclass(MisconfigurationException, Exception)


def test_the_new_callbacks_are_exported():
    names = {"LearningRateMonitor", "Timer", "GradientAccumulationScheduler", "LambdaCallback", "OnExceptionCheckpoint",
             "BasePredictionWriter", "BatchSizeFinder", "LearningRateFinder", "DeviceStatsMonitor"}
    assert names <= set(fastlit.callbacks.__all__)
    # and the earlier ones are still there
    assert {"Callback", "Checkpoint", "EarlyStopping", "ModelCheckpoint", "ModelSummary", "ProgressBar",
            "TQDMProgressBar"} <= set(fastlit.callbacks.__all__)


# ------------------------------------------------------------------------------------------------ demos


def _boring_run(pl, demos, tmp_path, limit_val_batches=0):
    torch.manual_seed(0)
    model = demos.BoringModel()
    trainer = pl.Trainer(max_epochs=2, limit_train_batches=8, limit_val_batches=limit_val_batches, limit_test_batches=4,
                         limit_predict_batches=3, logger=False, enable_progress_bar=False, enable_model_summary=False,
                         enable_checkpointing=False, default_root_dir=str(tmp_path))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer.fit(model)
        preds = trainer.predict(model)
        tested = trainer.test(model, verbose=False)
    return model, preds, tested, trainer


def test_boring_model_trains_like_lightnings(tmp_path, lightning):
    from pytorch_lightning.demos import boring_classes as theirs

    from fastlit.demos import boring_classes as ours

    m1, p1, _, t1 = _boring_run(fastlit, ours, tmp_path / "f")
    m2, p2, _, t2 = _boring_run(lightning, theirs, tmp_path / "l")
    assert t1.global_step == t2.global_step == 16
    for k, v in m1.state_dict().items():
        torch.testing.assert_close(v, m2.state_dict()[k])
    assert len(p1) == len(p2) == 3
    for a, b in zip(p1, p2):
        torch.testing.assert_close(a, b)
    # the StepLR(step_size=1) scheduler stepped once per epoch: 0.1 -> 0.001
    assert t1.optimizers[0].param_groups[0]["lr"] == pytest.approx(t2.optimizers[0].param_groups[0]["lr"])


def test_boring_model_with_validation_trains_like_lightnings(tmp_path, lightning):
    from pytorch_lightning.demos import boring_classes as theirs

    from fastlit.demos import boring_classes as ours

    m1 = _boring_run(fastlit, ours, tmp_path / "f", limit_val_batches=4)[0]
    m2 = _boring_run(lightning, theirs, tmp_path / "l", limit_val_batches=4)[0]
    torch.testing.assert_close(m1.layer.weight, m2.layer.weight)


def test_boring_model_test_results_like_lightnings(tmp_path, lightning):
    from pytorch_lightning.demos import boring_classes as theirs

    from fastlit.demos import boring_classes as ours

    assert _boring_run(fastlit, ours, tmp_path / "f")[2] == _boring_run(lightning, theirs, tmp_path / "l")[2]


def test_demo_data_matches_lightnings(lightning):
    from pytorch_lightning.demos import boring_classes as theirs

    from fastlit.demos import boring_classes as ours

    for cls, args in (("RandomDataset", (32, 64)), ("RandomDictDataset", (4, 8)),
                      ("RandomIterableDatasetWithLen", (4, 5)), ("RandomIterableDataset", (3, 4))):
        torch.manual_seed(3)
        a = list(getattr(ours, cls)(*args))  # iterable datasets draw while iterating: materialize each in turn
        torch.manual_seed(3)
        b = list(getattr(theirs, cls)(*args))
        assert len(a) == len(b) == args[1]
        for x, y in zip(a, b):
            if isinstance(x, dict):
                assert x.keys() == y.keys()
                for k in x:
                    torch.testing.assert_close(x[k], y[k])
            else:
                torch.testing.assert_close(x, y)
    torch.manual_seed(1)
    dm_a = ours.BoringDataModule()
    torch.manual_seed(1)
    dm_b = theirs.BoringDataModule()
    for stage, attr in (("fit", "random_train"), ("fit", "random_val"), ("test", "random_test"),
                        ("predict", "random_predict")):
        dm_a.setup(stage)
        dm_b.setup(stage)
        torch.testing.assert_close(torch.stack(list(getattr(dm_a, attr))), torch.stack(list(getattr(dm_b, attr))))
    torch.manual_seed(0)
    demo_a = ours.DemoModel()
    torch.manual_seed(0)
    demo_b = theirs.DemoModel()
    x = torch.randn(3, 32)
    torch.testing.assert_close(demo_a(x), demo_b(x))
    assert demo_a.learning_rate == demo_b.learning_rate == 0.02


def test_manual_optim_boring_model_trains(tmp_path, lightning):
    from pytorch_lightning.demos import boring_classes as theirs

    from fastlit.demos import boring_classes as ours

    weights = []
    for pl, demos in ((fastlit, ours), (lightning, theirs)):
        torch.manual_seed(0)
        model = demos.ManualOptimBoringModel()
        trainer = pl.Trainer(max_steps=5, limit_val_batches=0, logger=False, enable_progress_bar=False,
                             enable_model_summary=False, enable_checkpointing=False, default_root_dir=str(tmp_path))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            trainer.fit(model)
        assert trainer.global_step == 5
        weights.append(model.layer.weight.detach().clone())
    torch.testing.assert_close(weights[0], weights[1])
