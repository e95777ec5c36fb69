"""Checkpoint files: path and key set equal Lightning's, ``torch.load`` reads them, Lightning's
``load_from_checkpoint`` and ``fit(ckpt_path=)`` read ours and ours read Lightning's; resuming continues epoch and
global_step and ends with the weights of an uninterrupted run."""
from __future__ import annotations

import os
from typing import Any

import pytest
import torch

import fastlit
from helpers import find_files, models, quiet, randn_loader

pl_lightning = pytest.importorskip("pytorch_lightning")


def _fit(pl: Any, root: str, max_epochs: int = 2, ckpt_path: Any = None, seed: int = 0, **kw: Any) -> Any:
    torch.manual_seed(seed)
    model = _momentum_model(pl)()
    trainer = pl.Trainer(**quiet(default_root_dir=root, max_epochs=max_epochs, **kw))
    trainer.fit(model, randn_loader(16), randn_loader(8), ckpt_path=ckpt_path)
    return trainer, model


def _momentum_model(pl: Any) -> type:
    """BoringModel with Adam + a StepLR scheduler, so resuming must restore optimizer and scheduler state."""
    base = models(pl).BoringModel

    class WithState(base):
        def configure_optimizers(self) -> Any:
            opt = torch.optim.Adam(self.parameters(), lr=self.hparams.lr)
            return {"optimizer": opt, "lr_scheduler": torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)}

    WithState.__name__ = WithState.__qualname__ = "WithState"
    return WithState


def _keys(d: Any, prefix: str = "") -> set[str]:
    """Every nested key path of a checkpoint, without the values (tensor dicts and lists shown as one entry)."""
    out = set()
    if isinstance(d, dict) and not (d and all(torch.is_tensor(v) for v in d.values())):
        for k, v in d.items():
            out.add(prefix + str(k))
            out |= _keys(v, prefix + str(k) + ".")
    return out


def _only_ckpt(root: str) -> str:
    files = find_files(root, ".ckpt")
    assert len(files) == 1, files
    return os.path.join(root, files[0])


def test_default_checkpoint_path_and_key_set_equal_lightnings(tmp_path: Any) -> None:
    _fit(pl_lightning, str(tmp_path / "pl"))
    _fit(fastlit, str(tmp_path / "fl"))
    pl_files, fl_files = find_files(str(tmp_path / "pl"), ".ckpt"), find_files(str(tmp_path / "fl"), ".ckpt")
    assert fl_files == pl_files == ["lightning_logs/version_0/checkpoints/epoch=1-step=8.ckpt"]
    ours = torch.load(_only_ckpt(str(tmp_path / "fl")))  # torch's default weights_only=True must work
    theirs = torch.load(_only_ckpt(str(tmp_path / "pl")), weights_only=False)
    assert _keys(ours) - {"fastlit_version"} == _keys(theirs)
    for key in ("epoch", "global_step", "hyper_parameters", "hparams_name", "pytorch-lightning_version"):
        assert ours[key] == theirs[key], key
    for k in theirs["state_dict"]:
        torch.testing.assert_close(ours["state_dict"][k], theirs["state_dict"][k])
    assert ours["lr_schedulers"] == theirs["lr_schedulers"]
    # the loop counters Lightning uses to resume
    for path in ("epoch_progress", "epoch_loop.batch_progress", "epoch_loop.state_dict",
                 "epoch_loop.automatic_optimization.optim_progress"):
        assert ours["loops"]["fit_loop"][path] == theirs["loops"]["fit_loop"][path], path


@pytest.mark.parametrize("writer,reader", [("fastlit", "lightning"), ("lightning", "fastlit")])
def test_load_from_checkpoint_across_frameworks(writer: str, reader: str, tmp_path: Any) -> None:
    w = fastlit if writer == "fastlit" else pl_lightning
    r = fastlit if reader == "fastlit" else pl_lightning
    _, trained = _fit(w, str(tmp_path))
    loaded = _momentum_model(r).load_from_checkpoint(_only_ckpt(str(tmp_path)))
    assert isinstance(loaded, r.LightningModule)
    assert dict(loaded.hparams) == {"dim": 8, "lr": 0.1}
    for a, b in zip(trained.state_dict().values(), loaded.state_dict().values()):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("writer,reader", [("fastlit", "lightning"), ("lightning", "fastlit"),
                                           ("fastlit", "fastlit")])
def test_resume_across_frameworks_equals_uninterrupted_run(writer: str, reader: str, tmp_path: Any) -> None:
    w = fastlit if writer == "fastlit" else pl_lightning
    r = fastlit if reader == "fastlit" else pl_lightning
    _fit(w, str(tmp_path / "first"), max_epochs=2)
    ckpt = _only_ckpt(str(tmp_path / "first"))
    resumed_trainer, resumed = _fit(r, str(tmp_path / "resumed"), max_epochs=4, ckpt_path=ckpt, seed=1)
    full_trainer, full = _fit(r, str(tmp_path / "full"), max_epochs=4)
    assert (resumed_trainer.current_epoch, resumed_trainer.global_step) == (4, 16)
    assert (full_trainer.current_epoch, full_trainer.global_step) == (4, 16)
    for a, b in zip(full.parameters(), resumed.parameters()):
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-6)
    # the scheduler was restored too: 4 epochs of StepLR(gamma=0.5)
    assert resumed_trainer.optimizers[0].param_groups[0]["lr"] == pytest.approx(0.1 * 0.5 ** 4)
    assert resumed_trainer.ckpt_path == ckpt


def test_resume_continues_counters_and_checkpoint_names(tmp_path: Any) -> None:
    seen: list = []

    class Spy(fastlit.Callback):
        def on_train_epoch_start(self, trainer: Any, pl_module: Any) -> None:
            seen.append((trainer.current_epoch, trainer.global_step))

    _fit(fastlit, str(tmp_path), max_epochs=1)
    ckpt = _only_ckpt(str(tmp_path))
    trainer, _ = _fit(fastlit, str(tmp_path), max_epochs=3, ckpt_path=ckpt, callbacks=[Spy()])
    assert seen == [(1, 4), (2, 8)]
    names = find_files(str(tmp_path), ".ckpt")
    assert "lightning_logs/version_1/checkpoints/epoch=2-step=12.ckpt" in names


def test_trainer_save_checkpoint_and_weights_only(tmp_path: Any) -> None:
    trainer, model = _fit(fastlit, str(tmp_path), max_epochs=1, enable_checkpointing=False, logger=False)
    full, light = str(tmp_path / "full.ckpt"), str(tmp_path / "w.ckpt")
    trainer.save_checkpoint(full)
    trainer.save_checkpoint(light, weights_only=True)
    ck, wk = torch.load(full), torch.load(light)
    assert ck["epoch"] == 1 and ck["global_step"] == 4  # saved after fit: the epoch counter has moved on
    assert {"optimizer_states", "lr_schedulers", "callbacks"} <= set(ck)
    assert not {"optimizer_states", "lr_schedulers"} & set(wk) and "state_dict" in wk
    # Lightning loads a weights-only file into a module too
    loaded = _momentum_model(pl_lightning).load_from_checkpoint(light)
    for a, b in zip(model.state_dict().values(), loaded.state_dict().values()):
        torch.testing.assert_close(a, b)
    with pytest.raises(Exception, match="optimizer"):
        _fit(fastlit, str(tmp_path / "again"), max_epochs=2, ckpt_path=light, logger=False)


def test_save_checkpoint_matches_lightning_file_after_fit(tmp_path: Any) -> None:
    trainer_pl, _ = _fit(pl_lightning, str(tmp_path / "pl"), max_epochs=1, enable_checkpointing=False)
    trainer_fl, _ = _fit(fastlit, str(tmp_path / "fl"), max_epochs=1, enable_checkpointing=False)
    trainer_pl.save_checkpoint(str(tmp_path / "pl.ckpt"))
    trainer_fl.save_checkpoint(str(tmp_path / "fl.ckpt"))
    theirs = torch.load(str(tmp_path / "pl.ckpt"), weights_only=False)
    ours = torch.load(str(tmp_path / "fl.ckpt"))
    assert _keys(ours) - {"fastlit_version"} == _keys(theirs)
    assert (ours["epoch"], ours["global_step"]) == (theirs["epoch"], theirs["global_step"])
    assert ours["loops"]["fit_loop"]["epoch_progress"] == theirs["loops"]["fit_loop"]["epoch_progress"]


def _mid_epoch_fit(pl: Any, root: str) -> None:
    torch.manual_seed(0)
    cb = pl.callbacks.ModelCheckpoint(every_n_train_steps=3, save_top_k=-1)
    trainer = pl.Trainer(**quiet(default_root_dir=root, max_epochs=2, callbacks=[cb]))
    trainer.fit(models(pl).BoringModel(), randn_loader(16), randn_loader(8))


def _recording_boring(pl: Any) -> Any:
    class Rec(models(pl).BoringModel):
        def training_step(self, batch: Any, batch_idx: int) -> Any:
            self.calls.append((self.current_epoch, batch_idx, self.global_step))
            return super().training_step(batch, batch_idx)

    model = Rec()
    model.calls = []
    return model


def test_mid_epoch_checkpoint_counters_equal_lightnings(tmp_path: Any) -> None:
    _mid_epoch_fit(pl_lightning, str(tmp_path / "pl"))
    _mid_epoch_fit(fastlit, str(tmp_path / "fl"))
    names = find_files(str(tmp_path / "pl"), ".ckpt")
    assert find_files(str(tmp_path / "fl"), ".ckpt") == names == [
        "lightning_logs/version_0/checkpoints/epoch=0-step=3.ckpt", "lightning_logs/version_0/checkpoints/epoch=1-step=6.ckpt"]
    for name in names:
        theirs = torch.load(os.path.join(tmp_path, "pl", name), weights_only=False)["loops"]["fit_loop"]
        ours = torch.load(os.path.join(tmp_path, "fl", name))["loops"]["fit_loop"]
        for key in ("epoch_progress", "epoch_loop.batch_progress", "epoch_loop.state_dict",
                    "epoch_loop.automatic_optimization.optim_progress"):
            assert ours[key] == theirs[key], (name, key)


@pytest.mark.parametrize("writer", ["lightning", "fastlit"])
def test_mid_epoch_resume_counters_equal_lightnings(writer: str, tmp_path: Any) -> None:
    _mid_epoch_fit(pl_lightning if writer == "lightning" else fastlit, str(tmp_path / "w"))
    ckpt = str(tmp_path / "w" / "lightning_logs/version_0/checkpoints/epoch=0-step=3.ckpt")
    seen = []
    for pl in (pl_lightning, fastlit):
        model = _recording_boring(pl)
        trainer = pl.Trainer(**quiet(default_root_dir=str(tmp_path / pl.__name__), max_epochs=2, logger=False,
                                     enable_checkpointing=False))
        trainer.fit(model, randn_loader(16), randn_loader(8), ckpt_path=ckpt)
        seen.append((model.calls, trainer.global_step, trainer.current_epoch,
                     trainer.fit_loop.epoch_loop._batches_that_stepped))
    assert seen[1] == seen[0]
    assert seen[1][0][0] == (0, 3, 3)  # continues with the 4th batch of epoch 0
