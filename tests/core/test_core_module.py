"""LightningModule / LightningDataModule API: hyperparameters, properties, optimizers()/lr_schedulers(), manual
optimization, datamodule hooks; compared with Lightning where both can run the same code."""
from __future__ import annotations

from argparse import Namespace
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

import fastlit
from helpers import models, quiet, randn_dataset, randn_loader

pl_lightning = pytest.importorskip("pytorch_lightning")
FRAMEWORKS = [pl_lightning, fastlit]


# ------------------------------------------------------------------------------------------ hyperparameters
def _hparams_classes(pl: Any) -> dict[str, type]:
    class All(pl.LightningModule):
        def __init__(self, a: int = 1, b: str = "x", *, c: float = 0.5, **kwargs: Any) -> None:
            super().__init__()
            self.save_hyperparameters()

    class Named(pl.LightningModule):
        def __init__(self, a: int = 1, b: str = "x", net: Any = None) -> None:
            super().__init__()
            self.save_hyperparameters("a", "b")

    class Ignore(pl.LightningModule):
        def __init__(self, a: int = 1, net: Any = None) -> None:
            super().__init__()
            self.save_hyperparameters(ignore=["net"])

    class FromDict(pl.LightningModule):
        def __init__(self, config: dict) -> None:
            super().__init__()
            self.save_hyperparameters(config)

    class FromNamespace(pl.LightningModule):
        def __init__(self, args: Namespace) -> None:
            super().__init__()
            self.save_hyperparameters(args)

    class Child(All):
        def __init__(self, d: int = 4, **kwargs: Any) -> None:
            super().__init__(**kwargs)

    return {"All": All, "Named": Named, "Ignore": Ignore, "FromDict": FromDict, "FromNamespace": FromNamespace,
            "Child": Child}


HPARAM_CASES = [
    ("All", (), {"a": 2, "c": 0.25, "extra": [1, 2]}),
    ("All", (3, "y"), {}),
    ("Named", (5,), {"net": torch.nn.Linear(1, 1)}),
    ("Ignore", (), {"a": 7, "net": torch.nn.Linear(1, 1)}),
    ("FromDict", ({"lr": 0.1, "layers": [4, 4]},), {}),
    ("FromNamespace", (Namespace(lr=0.2, name="n"),), {}),
    ("Child", (), {"d": 9, "a": 3}),
]


@pytest.mark.parametrize("name,args,kwargs", HPARAM_CASES)
def test_save_hyperparameters_matches_lightning(name: str, args: tuple, kwargs: dict) -> None:
    got = []
    for pl in FRAMEWORKS:
        obj = _hparams_classes(pl)[name](*args, **kwargs)
        got.append((dict(obj.hparams), dict(obj.hparams_initial)))
    assert got[1] == got[0]


def test_hparams_attribute_access_and_mutation() -> None:
    m = _hparams_classes(fastlit)["All"](a=5)
    assert m.hparams.a == 5 and m.hparams["b"] == "x"
    m.hparams.a = 6
    assert m.hparams.a == 6 and m.hparams_initial.a == 5  # hparams_initial keeps what was first saved


# ------------------------------------------------------------------------------------------------ properties
def test_properties_without_trainer() -> None:
    m = models(fastlit).BoringModel()
    assert m.current_epoch == 0 and m.global_step == 0 and m.logger is None
    assert m.device == torch.device("cpu") and m.dtype == torch.float32
    with pytest.raises(RuntimeError, match="not attached to a `Trainer`"):
        _ = m.trainer
    m.double()
    assert m.dtype == torch.float64
    with pytest.warns(UserWarning, match="self.trainer"):
        m.log("x", 1.0)


def test_properties_during_fit(tmp_path: Any) -> None:
    seen = {}

    class M(models(fastlit).BoringModel):
        def training_step(self, batch: Any, batch_idx: int) -> Any:
            seen.update(trainer=self.trainer, logger=self.logger, loggers=self.loggers, device=self.device,
                        epoch=self.current_epoch, step=self.global_step, batch_device=batch[0].device)
            return super().training_step(batch, batch_idx)

    trainer = fastlit.Trainer(**quiet(max_epochs=1, default_root_dir=str(tmp_path), enable_checkpointing=False))
    trainer.fit(M(), randn_loader(4))
    assert seen["trainer"] is trainer and seen["logger"] is trainer.logger and seen["loggers"] == trainer.loggers
    assert seen["device"] == seen["batch_device"] == torch.device("cpu")
    assert (seen["epoch"], seen["step"]) == (0, 0)


# ------------------------------------------------------------------------------------- optimizers/schedulers
@pytest.mark.parametrize("config", ["single", "list", "tuple_with_sched", "dict_with_sched_dict", "none"])
def test_optimizers_and_lr_schedulers_match_lightning(config: str) -> None:
    shapes = []
    for pl in FRAMEWORKS:
        class M(models(pl).BoringModel):
            def configure_optimizers(self) -> Any:
                opt = torch.optim.SGD(self.parameters(), lr=0.1)
                sched = torch.optim.lr_scheduler.StepLR(opt, 1)
                return {"single": opt, "list": [opt], "tuple_with_sched": ([opt], [sched]),
                        "dict_with_sched_dict": {"optimizer": opt, "lr_scheduler": {"scheduler": sched,
                                                                                   "interval": "step"}},
                        "none": None}[config]

            def on_train_start(self) -> None:
                opt = self.optimizers()
                sched = self.lr_schedulers()
                self.shape = (type(opt).__name__ if not isinstance(opt, list) else len(opt),
                              isinstance(opt, torch.optim.Optimizer), type(sched).__name__)

        m = M()
        with pytest.warns(UserWarning) if config == "none" else _nullcontext():
            pl.Trainer(**quiet(max_epochs=1, logger=False, enable_checkpointing=False)).fit(m, randn_loader(4))
        shapes.append(m.shape)
    assert shapes[1] == shapes[0]


class _nullcontext:
    def __enter__(self) -> None: ...
    def __exit__(self, *a: Any) -> None: ...


def test_step_interval_scheduler_steps_every_batch() -> None:
    lrs = {}
    for pl in FRAMEWORKS:
        class M(models(pl).BoringModel):
            def configure_optimizers(self) -> Any:
                opt = torch.optim.SGD(self.parameters(), lr=1.0)
                sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
                return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step", "frequency": 2}}

        m = M()
        trainer = pl.Trainer(**quiet(max_epochs=2, logger=False, enable_checkpointing=False))
        trainer.fit(m, randn_loader(16))
        lrs[pl.__name__] = trainer.optimizers[0].param_groups[0]["lr"]
    assert lrs["fastlit"] == lrs["pytorch_lightning"] == 0.5 ** 4  # 8 steps, stepped every 2nd


# ---------------------------------------------------------------------------------------- manual optimization
def _gan_like(pl: Any) -> type:
    class TwoOpt(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            torch.manual_seed(0)
            self.automatic_optimization = False
            self.g = torch.nn.Linear(8, 2)
            self.d = torch.nn.Linear(2, 1)

        def training_step(self, batch: Any, batch_idx: int) -> None:
            opt_g, opt_d = self.optimizers()
            x, y = batch
            # discriminator
            self.toggle_optimizer(opt_d)
            loss_d = F.mse_loss(self.d(y), torch.ones(len(y), 1)) + F.mse_loss(self.d(self.g(x).detach()),
                                                                             torch.zeros(len(y), 1))
            opt_d.zero_grad()
            self.manual_backward(loss_d)
            opt_d.step()
            self.untoggle_optimizer(opt_d)
            # generator
            self.toggle_optimizer(opt_g)
            loss_g = F.mse_loss(self.d(self.g(x)), torch.ones(len(y), 1))
            opt_g.zero_grad()
            self.manual_backward(loss_g)
            opt_g.step()
            self.untoggle_optimizer(opt_g)
            self.log_dict({"loss_d": loss_d, "loss_g": loss_g}, prog_bar=True)

        def configure_optimizers(self) -> Any:
            return [torch.optim.Adam(self.g.parameters(), lr=0.01), torch.optim.SGD(self.d.parameters(), lr=0.1)]

    return TwoOpt


def test_manual_optimization_matches_lightning() -> None:
    out = []
    for pl in FRAMEWORKS:
        model = _gan_like(pl)()
        trainer = pl.Trainer(**quiet(max_epochs=2, logger=False, enable_checkpointing=False))
        trainer.fit(model, DataLoader(randn_dataset(16), batch_size=4))
        out.append((trainer.global_step, sorted(trainer.callback_metrics), [p.detach().clone() for p in model.parameters()],
                    all(p.requires_grad for p in model.parameters())))
    (gs0, keys0, w0, rg0), (gs1, keys1, w1, rg1) = out
    assert gs1 == gs0 == 16  # each opt.step() counts
    assert keys1 == keys0 and rg1 and rg0
    for a, b in zip(w0, w1):
        torch.testing.assert_close(b, a)


def test_manual_backward_in_automatic_mode_is_an_error() -> None:
    class M(models(fastlit).BoringModel):
        def training_step(self, batch: Any, batch_idx: int) -> Any:
            loss = super().training_step(batch, batch_idx)
            self.manual_backward(loss)
            return loss

    with pytest.raises(Exception, match="automatic_optimization"):
        fastlit.Trainer(**quiet(max_epochs=1, logger=False, enable_checkpointing=False)).fit(M(), randn_loader(4))


def test_optimizer_wrapper_looks_like_the_optimizer() -> None:
    seen = {}

    class M(models(fastlit).BoringModel):
        def on_train_start(self) -> None:
            opt = self.optimizers()
            seen.update(isinstance=isinstance(opt, torch.optim.SGD), lr=opt.param_groups[0]["lr"],
                        raw=self.optimizers(use_pl_optimizer=False))

    trainer = fastlit.Trainer(**quiet(max_epochs=1, logger=False, enable_checkpointing=False))
    trainer.fit(M(), randn_loader(4))
    assert seen["isinstance"] and seen["lr"] == 0.1 and seen["raw"] is trainer.optimizers[0]


# -------------------------------------------------------------------------------------------------- misc
def test_freeze_unfreeze() -> None:
    m = models(fastlit).BoringModel()
    m.freeze()
    assert not m.training and not any(p.requires_grad for p in m.parameters())
    m.unfreeze()
    assert m.training and all(p.requires_grad for p in m.parameters())


def test_datamodule_hook_order_matches_lightning() -> None:
    calls = {}
    for pl in FRAMEWORKS:
        log: list = []

        class DM(pl.LightningDataModule):
            def __init__(self, batch_size: int = 4) -> None:
                super().__init__()
                self.save_hyperparameters()

            def prepare_data(self) -> None:
                log.append("prepare_data")

            def setup(self, stage: str) -> None:
                log.append(("setup", stage))

            def teardown(self, stage: str) -> None:
                log.append(("teardown", stage))

            def train_dataloader(self) -> Any:
                log.append("train_dataloader")
                return randn_loader(8)

            def val_dataloader(self) -> Any:
                log.append("val_dataloader")
                return randn_loader(4)

            def test_dataloader(self) -> Any:
                log.append("test_dataloader")
                return randn_loader(4)

        dm = DM()
        trainer = pl.Trainer(**quiet(max_epochs=1, logger=False, enable_checkpointing=False))
        trainer.fit(models(pl).BoringModel(), datamodule=dm)
        trainer.test(datamodule=dm, ckpt_path=None, model=trainer.lightning_module, verbose=False)
        calls[pl.__name__] = (log, dict(dm.hparams))
    assert calls["fastlit"] == calls["pytorch_lightning"]


def test_datamodule_from_datasets() -> None:
    dm = fastlit.LightningDataModule.from_datasets(randn_dataset(8), val_dataset=randn_dataset(4), batch_size=4)
    trainer = fastlit.Trainer(**quiet(max_epochs=1, logger=False, enable_checkpointing=False))
    trainer.fit(models(fastlit).BoringModel(), datamodule=dm)
    assert trainer.global_step == 2 and trainer.num_val_batches == [1]


def test_configure_optimizers_none_trains_without_updates_like_lightning() -> None:
    out = []
    for pl in FRAMEWORKS:
        class M(models(pl).BoringModel):
            def configure_optimizers(self) -> Any:
                return None

        m = M()
        before = m.layer.weight.detach().clone()
        trainer = pl.Trainer(**quiet(max_epochs=2, logger=False, enable_checkpointing=False))
        with pytest.warns(UserWarning, match="configure_optimizers"):
            trainer.fit(m, randn_loader(12))
        out.append((trainer.global_step, torch.equal(before, m.layer.weight), repr(trainer.optimizers)))
    assert out[1] == out[0] == (6, True, "[No Optimizer]")
