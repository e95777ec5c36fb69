"""Clear errors for misconfigured runs: the exception type matches Lightning's (by class name) and the message names
the problem. Each case runs under both frameworks."""
from __future__ import annotations

from typing import Any, Callable

import pytest
import torch
from torch.utils.data import DataLoader

import fastlit
from helpers import models, quiet, randn_dataset, randn_loader


def _trainer(pl: Any, **kw: Any) -> Any:
    return pl.Trainer(**quiet(max_epochs=1, logger=False, enable_checkpointing=False, **kw))


def _plain(pl: Any) -> type:
    class Plain(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.layer = torch.nn.Linear(8, 2)

    return Plain


def _case_no_training_step(pl: Any) -> None:
    class M(_plain(pl)):
        def configure_optimizers(self) -> Any:
            return torch.optim.SGD(self.parameters(), lr=0.1)

    _trainer(pl).fit(M(), randn_loader())


def _case_no_configure_optimizers(pl: Any) -> None:
    class M(_plain(pl)):
        def training_step(self, batch: Any, batch_idx: int) -> Any:
            return self.layer(batch[0]).sum()

    _trainer(pl).fit(M(), randn_loader())


def _case_no_train_dataloader(pl: Any) -> None:
    _trainer(pl).fit(models(pl).BoringModel())


def _bad_optimizers(value: Callable) -> Callable:
    def case(pl: Any) -> None:
        class M(models(pl).BoringModel):
            def configure_optimizers(self) -> Any:
                return value(self)

        _trainer(pl).fit(M(), randn_loader())

    return case


def _case_multi_val_without_idx(pl: Any) -> None:
    class M(models(pl).BoringModel):
        def validation_step(self, batch: Any, batch_idx: int) -> None:  # no dataloader_idx argument
            self.log("v", self.loss(batch))

    _trainer(pl).validate(M(), [randn_loader(), randn_loader()], verbose=False)


def _case_validate_without_step(pl: Any) -> None:
    model = models(pl).LitAutoEncoder(torch.nn.Identity(), torch.nn.Identity())
    _trainer(pl).validate(model, randn_loader(), verbose=False)


def _case_test_without_step(pl: Any) -> None:
    model = models(pl).LitAutoEncoder(torch.nn.Identity(), torch.nn.Identity())
    _trainer(pl).test(model, randn_loader(), verbose=False)


def _case_predict_without_forward(pl: Any) -> None:
    _trainer(pl).predict(_plain(pl)(), randn_loader())


def _case_manual_with_clipping(pl: Any) -> None:
    class M(models(pl).BoringModel):
        def __init__(self) -> None:
            super().__init__()
            self.automatic_optimization = False

        def training_step(self, batch: Any, batch_idx: int) -> Any:
            opt = self.optimizers()
            loss = self.loss(batch)
            self.manual_backward(loss)
            opt.step()
            opt.zero_grad()

    _trainer(pl, gradient_clip_val=1.0).fit(M(), randn_loader())


def _case_two_optimizers_automatic(pl: Any) -> None:
    _bad_optimizers(lambda m: [torch.optim.SGD(m.parameters(), lr=0.1), torch.optim.Adam(m.parameters())])(pl)


CASES: dict[str, tuple[Callable, str]] = {
    "no_training_step": (_case_no_training_step, "training_step"),
    "no_configure_optimizers": (_case_no_configure_optimizers, "configure_optimizers"),
    "no_train_dataloader": (_case_no_train_dataloader, "train_dataloader"),
    "optimizers_string": (_bad_optimizers(lambda m: "adam"), "configure_optimizers|optimizer"),
    "optimizers_list_of_junk": (_bad_optimizers(lambda m: [1, 2]), "configure_optimizers|optimizer"),
    "optimizers_dict_without_optimizer": (
        _bad_optimizers(lambda m: {"lr_scheduler": None}), "optimizer"),
    "optimizers_bad_scheduler_interval": (_bad_optimizers(lambda m: {
        "optimizer": (o := torch.optim.SGD(m.parameters(), lr=0.1)),
        "lr_scheduler": {"scheduler": torch.optim.lr_scheduler.StepLR(o, 1), "interval": "batch"}}), "interval"),
    "plateau_without_monitor": (_bad_optimizers(lambda m: {
        "optimizer": (o := torch.optim.SGD(m.parameters(), lr=0.1)),
        "lr_scheduler": torch.optim.lr_scheduler.ReduceLROnPlateau(o)}), "monitor"),
    "two_optimizers_automatic": (_case_two_optimizers_automatic, "manual optimization"),
    "multi_val_without_dataloader_idx": (_case_multi_val_without_idx, "dataloader_idx"),
    "validate_without_validation_step": (_case_validate_without_step, "validation_step"),
    "test_without_test_step": (_case_test_without_step, "test_step"),
    "predict_without_forward": (_case_predict_without_forward, "forward"),
    "manual_optimization_with_clipping": (_case_manual_with_clipping, "gradient_clip_val|clipping"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_error_is_clear(case: str) -> None:
    fn, pattern = CASES[case]
    with pytest.raises(Exception, match=pattern) as ours:
        fn(fastlit)
    pl = pytest.importorskip("pytorch_lightning")
    with pytest.raises(Exception) as theirs:
        fn(pl)
    if case != "optimizers_dict_without_optimizer":  # Lightning raises a bare KeyError('optimizer') there
        assert type(ours.value).__name__ == type(theirs.value).__name__, (ours.value, theirs.value)


def test_single_loader_with_required_dataloader_idx() -> None:
    class M(models(fastlit).BoringModel):
        def validation_step(self, batch: Any, batch_idx: int, dataloader_idx: int) -> None:
            pass

    with pytest.raises(RuntimeError, match="single `val_dataloader`"):
        _trainer(fastlit).validate(M(), randn_loader(), verbose=False)


def test_unknown_trainer_argument_names_it() -> None:
    with pytest.raises(TypeError, match="max_epoch") as err:
        fastlit.Trainer(max_epoch=3)
    assert "max_epochs" in str(err.value)  # the closest valid name is suggested
    with pytest.raises(TypeError, match="definitely_not_an_arg"):
        fastlit.Trainer(definitely_not_an_arg=1)


@pytest.mark.parametrize("kwargs,pattern", [
    ({"gradient_clip_algorithm": "l1"}, "gradient_clip_algorithm"),
    ({"accumulate_grad_batches": 0}, "accumulate_grad_batches"),
    ({"max_steps": -5}, "max_steps"),
    ({"check_val_every_n_epoch": 0}, "check_val_every_n_epoch"),
    ({"precision": "8-bit"}, "recision"),
    ({"accelerator": "abacus"}, "accelerator"),
    ({"fast_dev_run": -1}, "fast_dev_run"),
])
def test_bad_trainer_values_name_the_argument(kwargs: dict, pattern: str) -> None:
    with pytest.raises(Exception, match=pattern):
        fastlit.Trainer(**kwargs)


@pytest.mark.parametrize("kwargs,pattern", [
    ({"limit_train_batches": 1.5}, "limit_train_batches"),
    ({"limit_val_batches": -1}, "limit_val_batches"),
    ({"val_check_interval": 10}, "val_check_interval"),
    ({"val_check_interval": 1.5}, "val_check_interval"),
])
def test_bad_loop_values_fail_at_fit_naming_the_argument(kwargs: dict, pattern: str) -> None:
    with pytest.raises(Exception, match=pattern):
        fastlit.Trainer(**quiet(max_epochs=1, logger=False, **kwargs)).fit(
            models(fastlit).BoringModel(), randn_loader(), randn_loader())


def test_fit_rejects_non_module_and_non_loader() -> None:
    with pytest.raises(TypeError, match="LightningModule"):
        _trainer(fastlit).fit(torch.nn.Linear(2, 2), randn_loader())
    with pytest.raises(TypeError, match="dataloader"):
        _trainer(fastlit).fit(models(fastlit).BoringModel(), train_dataloaders=42)


def test_lightning_callback_in_fastlit_trainer_is_a_clear_error() -> None:
    pl = pytest.importorskip("pytorch_lightning")
    with pytest.raises(TypeError, match="Callback"):
        fastlit.Trainer(callbacks=[pl.Callback()])


def test_error_mid_fit_calls_on_exception_and_propagates(tmp_path: Any) -> None:
    seen = []

    class Boom(models(fastlit).BoringModel):
        def training_step(self, batch: Any, batch_idx: int) -> Any:
            if batch_idx == 1:
                raise ValueError("boom at batch 1")
            return super().training_step(batch, batch_idx)

    class Watch(fastlit.Callback):
        def on_exception(self, trainer: Any, pl_module: Any, exception: BaseException) -> None:
            seen.append(str(exception))

    trainer = _trainer(fastlit, callbacks=[Watch()], default_root_dir=str(tmp_path))
    with pytest.raises(ValueError, match="boom at batch 1"):
        trainer.fit(Boom(), DataLoader(randn_dataset(16), batch_size=4))
    assert seen == ["boom at batch 1"]
    assert trainer.interrupted
