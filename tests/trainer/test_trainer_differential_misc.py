"""Less common paths, each run under Lightning and fastlit with the same code: precision modes, plateau and step
schedulers, iterable datasets, stopping from on_train_batch_start, LBFGS (closure path), an overridden
optimizer_step with accumulation, estimated_stepping_batches, several validation loaders, dataloader reloads."""
from __future__ import annotations

from typing import Any, Callable

import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, IterableDataset

import fastlit
from helpers import find_files, models, quiet, randn_dataset, randn_loader, read_metrics_csv

pl_lightning = pytest.importorskip("pytorch_lightning")


def _both(fn: Callable[[Any], Any]) -> tuple[Any, Any]:
    return fn(pl_lightning), fn(fastlit)


def _close(a: Any, b: Any) -> None:
    if isinstance(a, torch.Tensor):
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-6)
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), (a, b)
        for x, y in zip(a, b):
            _close(x, y)
    elif isinstance(a, dict):
        assert sorted(a) == sorted(b), (a, b)
        for k in a:
            _close(a[k], b[k])
    elif isinstance(a, float):
        assert b == pytest.approx(a, rel=1e-5, abs=1e-7)
    else:
        assert a == b


def _train(pl: Any, model: Any, train: Any = None, val: Any = None, **kw: Any) -> Any:
    trainer = pl.Trainer(**quiet(logger=False, enable_checkpointing=False, **{"max_epochs": 2, **kw}))
    trainer.fit(model, train if train is not None else randn_loader(16), val)
    return trainer


def _weights(m: Any) -> list:
    return [p.detach().clone() for p in m.parameters()]


def _seeded(pl: Any, name: str = "BoringModel", **kw: Any) -> Any:
    torch.manual_seed(0)
    return getattr(models(pl), name)(**kw)


@pytest.mark.parametrize("precision", ["bf16-mixed", "64-true", "bf16-true", "16-mixed"])
def test_precision_modes(precision: str) -> None:
    def run(pl: Any) -> Any:
        m = _seeded(pl)
        t = _train(pl, m, precision=precision)
        return t.global_step, _weights(m), m.layer.weight.dtype

    (gs0, w0, dt0), (gs1, w1, dt1) = _both(run)
    assert (gs1, dt1) == (gs0, dt0)
    # bf16 weights: fastlit's fused SGD rounds once from fp32, torch's SGD rounds per op: allow 1 bf16 ulp
    tol = {"rtol": 1e-2, "atol": 1e-3} if dt0 == torch.bfloat16 else {"rtol": 1e-5, "atol": 1e-6}
    for a, b in zip(w0, w1):
        torch.testing.assert_close(b, a, **tol)


def test_reduce_lr_on_plateau_monitoring_val_loss() -> None:
    def run(pl: Any) -> Any:
        class M(models(pl).BoringModel):
            def configure_optimizers(self) -> Any:
                opt = torch.optim.SGD(self.parameters(), lr=1.0)
                sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, patience=0, factor=0.5, threshold=10.0)
                return {"optimizer": opt, "lr_scheduler": sched, "monitor": "val_loss"}

        torch.manual_seed(0)
        m = M(lr=1.0)
        t = _train(pl, m, val=randn_loader(8), max_epochs=4)
        return t.optimizers[0].param_groups[0]["lr"], _weights(m)

    _close(*_both(run))


class _Stream(IterableDataset):
    def __iter__(self) -> Any:
        ds = randn_dataset(40)
        return iter(zip(*ds.tensors))


@pytest.mark.parametrize("kw", [{"max_steps": 7, "val_check_interval": 3}, {"max_epochs": 2}])
def test_iterable_dataset(kw: dict) -> None:
    def run(pl: Any) -> Any:
        calls = []

        class M(models(pl).BoringModel):
            def validation_step(self, batch: Any, batch_idx: int) -> Any:
                calls.append((self.global_step, batch_idx))
                return super().validation_step(batch, batch_idx)

        torch.manual_seed(0)
        m = M()
        args = {"max_epochs": -1, **kw} if "max_steps" in kw else kw
        t = _train(pl, m, DataLoader(_Stream(), batch_size=4), randn_loader(8), **args)
        return t.global_step, t.current_epoch, calls, t.num_training_batches, _weights(m)

    _close(*_both(run))


def test_on_train_batch_start_minus_one_skips_rest_of_epoch() -> None:
    def run(pl: Any) -> Any:
        seen = []

        class M(models(pl).BoringModel):
            def on_train_batch_start(self, batch: Any, batch_idx: int) -> Any:
                seen.append((self.current_epoch, batch_idx))
                return -1 if batch_idx == 1 else None

        m = _seeded(pl) if False else M()
        t = _train(pl, m, max_epochs=3)
        return t.global_step, t.current_epoch, seen

    _close(*_both(run))


def test_lbfgs_closure_path() -> None:
    def run(pl: Any) -> Any:
        class M(models(pl).BoringModel):
            def configure_optimizers(self) -> Any:
                return torch.optim.LBFGS(self.parameters(), lr=0.1, max_iter=3)

        torch.manual_seed(0)
        m = M()
        t = _train(pl, m)
        return t.global_step, _weights(m)

    _close(*_both(run))


def test_overridden_optimizer_step_with_accumulation_and_clipping() -> None:
    def run(pl: Any) -> Any:
        class M(models(pl).BoringModel):
            def optimizer_step(self, epoch: int, batch_idx: int, optimizer: Any, optimizer_closure: Any = None) -> None:
                for g in optimizer.param_groups:  # warm-up, as the docs' example does
                    g["lr"] = self.hparams.lr * min(1.0, (self.trainer.global_step + 1) / 3)
                optimizer.step(closure=optimizer_closure)

        torch.manual_seed(0)
        m = M()
        t = _train(pl, m, randn_loader(20), accumulate_grad_batches=2, gradient_clip_val=0.1, max_epochs=3)
        return t.global_step, _weights(m)

    _close(*_both(run))


@pytest.mark.parametrize("kw", [{"max_epochs": 3}, {"max_epochs": 3, "accumulate_grad_batches": 3},
                                {"max_steps": 5, "max_epochs": 10}, {"max_epochs": 2, "limit_train_batches": 0.5}])
def test_estimated_stepping_batches(kw: dict) -> None:
    def run(pl: Any) -> Any:
        seen = []

        class M(models(pl).BoringModel):
            def configure_optimizers(self) -> Any:
                seen.append(self.trainer.estimated_stepping_batches)
                return super().configure_optimizers()

        _train(pl, M(), randn_loader(40), **kw)
        return seen

    _close(*_both(run))


def test_several_validation_loaders_during_fit(tmp_path: Any) -> None:
    def run(pl: Any) -> Any:
        class M(models(pl).BoringModel):
            def validation_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> None:
                self.log("val_loss", self.loss(batch))

        torch.manual_seed(0)
        m = M()
        root = str(tmp_path / pl.__name__)
        t = pl.Trainer(**quiet(max_epochs=2, default_root_dir=root, logger=pl.loggers.CSVLogger(root)))
        t.fit(m, randn_loader(16), [randn_loader(8, seed=1), randn_loader(12, seed=2)])
        rows = read_metrics_csv(f"{root}/{find_files(root, 'metrics.csv')[0]}")
        return ({k: float(v) for k, v in t.callback_metrics.items()}, list(t.num_val_batches),
                [sorted(k for k, v in r.items() if v) for r in rows], find_files(root, ".ckpt"))

    _close(*_both(run))


def test_reload_dataloaders_every_n_epochs() -> None:
    def run(pl: Any) -> Any:
        calls = []

        class M(models(pl).BoringModel):
            def train_dataloader(self) -> Any:
                calls.append(("train", self.current_epoch))
                return randn_loader(8 + 4 * self.current_epoch)

            def val_dataloader(self) -> Any:
                calls.append(("val", self.current_epoch))
                return randn_loader(4)

        t = pl.Trainer(**quiet(max_epochs=3, logger=False, enable_checkpointing=False,
                               reload_dataloaders_every_n_epochs=1))
        t.fit(M())
        return calls, t.global_step

    _close(*_both(run))


def test_fit_twice_and_evaluate_in_between() -> None:
    def run(pl: Any) -> Any:
        calls = []

        class M(models(pl).BoringModel):
            def training_step(self, batch: Any, batch_idx: int) -> Any:
                calls.append(("train", self.current_epoch, batch_idx))
                return super().training_step(batch, batch_idx)

        torch.manual_seed(0)
        m = M()
        t = pl.Trainer(**quiet(max_epochs=2, logger=False, enable_checkpointing=False))
        t.fit(m, randn_loader(8), randn_loader(4))
        first = (t.global_step, t.current_epoch)
        v = t.validate(m, randn_loader(4), verbose=False)
        t.fit(m, randn_loader(8), randn_loader(4))  # max_epochs already reached: nothing more to do
        second = (t.global_step, t.current_epoch)
        t.fit_loop.max_epochs = 3  # Lightning's documented way to train on with the same trainer
        t.fit(m, randn_loader(8), randn_loader(4))
        third = (t.global_step, t.current_epoch, t.max_epochs)
        return calls, first, second, v, _weights(m), third, t.state.fn, t.state.status

    a, b = _both(run)
    _close(a[:6], b[:6])
    assert str(getattr(b[6], "value", b[6])) == str(getattr(a[6], "value", a[6]))
    assert str(getattr(b[7], "value", b[7])) == str(getattr(a[7], "value", a[7]))


def test_overfit_batches_turns_off_shuffling() -> None:
    def run(pl: Any) -> Any:
        seen = []

        class M(models(pl).BoringModel):
            def training_step(self, batch: Any, batch_idx: int) -> Any:
                seen.append(batch[0][0, 0].item())
                return super().training_step(batch, batch_idx)

        t = pl.Trainer(**quiet(max_epochs=3, logger=False, enable_checkpointing=False, overfit_batches=2))
        with pytest.warns(UserWarning, match="shuffling"):
            t.fit(M(), DataLoader(randn_dataset(32), batch_size=4, shuffle=True))
        return seen

    a, b = _both(run)
    assert a == b and b[:2] == b[2:4] == b[4:]  # the same two batches every epoch
