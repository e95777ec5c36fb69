"""The user programs of seeds 000, 002 and 004 (/work/shared/seeds), as verbatim as possible with ``import fastlit
as pl``: MNIST is replaced by small synthetic tensors (no downloads here) and sizes are scaled down. Each program
is followed by the assertions its author relied on (files in lightning_logs/, best_model_path, test results)."""
from __future__ import annotations

import logging
import os
import warnings
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, random_split

import fastlit as pl
from helpers import Decoder, Encoder, find_files, mnist_like


# --------------------------------------------------------------------------------------------------- seed 000
class LitAutoEncoder(pl.LightningModule):
    def __init__(self, encoder, decoder):
        super().__init__()
        self.encoder = encoder  # nn.Module
        self.decoder = decoder  # nn.Module

    def training_step(self, batch, batch_idx):
        x, y = batch
        x = x.view(x.size(0), -1)
        z = self.encoder(x)
        x_hat = self.decoder(z)
        loss = F.mse_loss(x_hat, x)
        self.log("loss", loss)
        return loss

    def validation_step(self, batch, batch_idx):
        x, y = batch
        x = x.view(x.size(0), -1)
        self.log("val_loss", F.mse_loss(self.decoder(self.encoder(x)), x))

    def test_step(self, batch, batch_idx):
        x, y = batch
        x = x.view(x.size(0), -1)
        self.log("test_loss", F.mse_loss(self.decoder(self.encoder(x)), x))

    def configure_optimizers(self):
        optimizer = torch.optim.Adam(self.parameters(), lr=1e-3)
        return optimizer


def test_seed_000_autoencoder_program(tmp_path: Any, capsys: Any) -> None:
    dataset = mnist_like(32)  # MNIST(os.getcwd(), download=True, transform=transforms.ToTensor())
    train_loader = DataLoader(dataset)
    test_set = mnist_like(8, seed=1)

    autoencoder = LitAutoEncoder(Encoder(), Decoder())
    trainer = pl.Trainer(default_root_dir=str(tmp_path), max_epochs=2)
    trainer.fit(model=autoencoder, train_dataloaders=train_loader)
    files = find_files(str(tmp_path), "")
    assert "lightning_logs/version_0/checkpoints/epoch=1-step=64.ckpt" in files
    assert any(f.startswith("lightning_logs/version_0/events.out.tfevents") for f in files)
    assert "lightning_logs/version_0/hparams.yaml" in files

    result = trainer.test(autoencoder, dataloaders=DataLoader(test_set))
    assert set(result[0]) == {"test_loss"} and "Test metric" in capsys.readouterr().out

    ckpt = os.path.join(str(tmp_path), "lightning_logs/version_0/checkpoints/epoch=1-step=64.ckpt")
    # __init__ takes modules that were not saved as hyperparameters: pass them in (as Lightning's docs do)
    model = LitAutoEncoder.load_from_checkpoint(ckpt, encoder=Encoder(), decoder=Decoder())
    for a, b in zip(model.parameters(), autoencoder.parameters()):
        assert torch.equal(a, b)

    trainer = pl.Trainer(default_root_dir=str(tmp_path), max_epochs=3)
    trainer.fit(model, train_loader, ckpt_path=ckpt)  # "载入权重的同时载入训练参数"
    assert (trainer.current_epoch, trainer.global_step) == (3, 96)

    for fdr, steps in ((True, 1), (7, 7)):
        trainer = pl.Trainer(fast_dev_run=fdr, default_root_dir=str(tmp_path / f"fdr{fdr}"))
        trainer.fit(LitAutoEncoder(Encoder(), Decoder()), train_loader, DataLoader(test_set))
        assert trainer.global_step == steps and not os.path.exists(tmp_path / f"fdr{fdr}" / "lightning_logs")

    reports: list = []
    handler = logging.Handler()
    handler.emit = lambda record: reports.append(record.getMessage())  # type: ignore[method-assign]
    logging.getLogger("fastlit").addHandler(handler)
    try:
        trainer = pl.Trainer(profiler="simple", max_epochs=1, default_root_dir=str(tmp_path / "prof"),
                             enable_progress_bar=False)
        trainer.fit(LitAutoEncoder(Encoder(), Decoder()), train_loader)
    finally:
        logging.getLogger("fastlit").removeHandler(handler)
    report = "\n".join(reports)
    assert "Profiler Report" in report and "run_training_batch" in report, report[-3000:]  # printed after fit


# --------------------------------------------------------------------------------------------------- seed 002
class LitAutoModule(pl.LightningModule):
    def __init__(self, encoder, decoder):
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder

    def training_step(self, batch, batch_idx):
        x, y = batch
        x = x.view(x.shape[0], -1)
        z = self.encoder(x)
        x_hat = self.decoder(z)
        loss = F.mse_loss(x, x_hat)
        return loss

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=1e-3)


class MNISTDataModule(pl.LightningDataModule):
    def __init__(self, data_dir=r'./', batch_size=128):
        super().__init__()
        self.data_dir = data_dir
        self.batch_size = batch_size
        self.calls = []

    def prepare_data(self):
        self.calls.append("prepare_data")  # MNIST(self.data_dir, train=True, download=True)

    def setup(self, stage: str):
        self.calls.append(("setup", stage))
        if stage == 'fit':
            mnist_full = mnist_like(300)
            self.mnist_train, self.mnist_val = random_split(mnist_full, [256, 44])
        if stage == 'test':
            self.mnist_test = mnist_like(64, seed=1)
        if stage == 'predict':
            self.mnist_predict = mnist_like(64, seed=2)

    def train_dataloader(self):
        return DataLoader(self.mnist_train, self.batch_size)

    def val_dataloader(self):
        return DataLoader(self.mnist_val, self.batch_size)

    def test_dataloader(self):
        return DataLoader(self.mnist_test, self.batch_size)

    def predict_dataloader(self):
        return DataLoader(self.mnist_predict, self.batch_size)


def test_seed_002_datamodule_program(tmp_path: Any) -> None:
    model = LitAutoModule(Encoder(), Decoder())
    dm = MNISTDataModule()
    trainer = pl.Trainer(max_epochs=2, default_root_dir=str(tmp_path))
    trainer.fit(model, datamodule=dm)
    assert trainer.global_step == 4  # 256 samples / 128 per batch, 2 epochs
    assert dm.calls == ["prepare_data", ("setup", "fit")]
    assert trainer.datamodule is dm and dm.trainer is trainer
    dm.calls.clear()

    class WithPredict(LitAutoModule):
        def forward(self, x):
            return self.encoder(x.view(x.shape[0], -1))

        def predict_step(self, batch, batch_idx):
            return self(batch[0])

    preds = trainer.predict(WithPredict(model.encoder, model.decoder), datamodule=dm)
    assert dm.calls == ["prepare_data", ("setup", "predict")]
    assert [p.shape for p in preds] == [torch.Size([64, 3])]


# --------------------------------------------------------------------------------------------------- seed 004
class Model(pl.LightningModule):

    def __init__(self):
        super().__init__()
        self.layers = nn.ModuleList([
            nn.Conv2d(in_channels=1, out_channels=32, kernel_size=3),
            nn.MaxPool2d(kernel_size=2, stride=2),
            nn.Conv2d(in_channels=32, out_channels=64, kernel_size=5),
            nn.MaxPool2d(kernel_size=2, stride=2),
            nn.Dropout2d(p=0.1),
            nn.AdaptiveMaxPool2d((1, 1)),
            nn.Flatten(),
            nn.Linear(64, 32),
            nn.ReLU(),
            nn.Linear(32, 10)]
        )

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return x

    # 定义loss,以及可选的各种metrics
    def training_step(self, batch, batch_idx):
        x, y = batch
        prediction = self(x)
        loss = nn.CrossEntropyLoss()(prediction, y)
        return loss

    # 定义optimizer,以及可选的lr_scheduler
    def configure_optimizers(self):
        optimizer = torch.optim.Adam(self.parameters(), lr=1e-3)
        return {"optimizer": optimizer}

    def validation_step(self, batch, batch_idx):
        loss = self.training_step(batch, batch_idx)
        return {"val_loss": loss}

    def test_step(self, batch, batch_idx):
        loss = self.training_step(batch, batch_idx)
        return {"test_loss": loss}


class Model2x(Model):
    """Seed 004 in Lightning 2.x style: log instead of returning the metric dict."""

    def validation_step(self, batch, batch_idx):
        loss = self.training_step(batch, batch_idx)
        self.log("val_loss", loss)

    def test_step(self, batch, batch_idx):
        loss = self.training_step(batch, batch_idx)
        self.log("test_loss", loss)


def _seed_004_loaders() -> tuple[DataLoader, DataLoader]:
    ds_train, ds_valid = mnist_like(128), mnist_like(64, seed=1)
    dl_train = torch.utils.data.DataLoader(ds_train, batch_size=128, shuffle=True, num_workers=0)
    dl_valid = torch.utils.data.DataLoader(ds_valid, batch_size=128, shuffle=False, num_workers=0)
    return dl_train, dl_valid


def _run_seed_004(model_cls: type, root: str, trainer_kw: dict) -> tuple[Any, list, list]:
    dl_train, dl_valid = _seed_004_loaders()
    pl.seed_everything(1234)
    model = model_cls()
    ckpt_callback = pl.callbacks.ModelCheckpoint(
        monitor='val_loss',
        save_top_k=1,
        mode='min'
    )
    trainer = pl.Trainer(max_epochs=3, callbacks=[ckpt_callback], default_root_dir=root, **trainer_kw)
    trainer.fit(model, dl_train, dl_valid)
    result = trainer.test(model, dataloaders=dl_valid)
    model_clone = model_cls.load_from_checkpoint(trainer.checkpoint_callback.best_model_path)
    trainer_clone = pl.Trainer(max_epochs=3, default_root_dir=root)
    result_clone = trainer_clone.test(model_clone, dl_valid)
    return trainer, result, result_clone


def test_seed_004_classifier_program_2x_style(tmp_path: Any) -> None:
    trainer, result, result_clone = _run_seed_004(Model2x, str(tmp_path), {})
    best = trainer.checkpoint_callback.best_model_path
    assert os.path.isfile(best) and os.path.dirname(best).endswith(os.path.join("version_0", "checkpoints"))
    assert os.path.basename(best).startswith("epoch=") and best.endswith(".ckpt")
    score = trainer.checkpoint_callback.best_model_score
    assert isinstance(score, torch.Tensor) and score.ndim == 0
    assert len(find_files(os.path.dirname(best), ".ckpt")) == 1  # save_top_k=1
    assert set(result[0]) == {"test_loss"} and all(type(v) is float for v in result[0].values())
    # the best checkpoint is not necessarily the last epoch: the clone's result is its own, but is a valid loss
    assert result_clone[0]["test_loss"] > 0


def test_seed_004_verbatim_1x_program(tmp_path: Any) -> None:
    """Verbatim 1.x idioms: ``gpus=0``, ``validation_step`` returning ``{"val_loss": loss}`` and
    ``trainer.test(model, test_dataloaders=...)``. Lightning 2.6 rejects all three (``gpus`` is an unknown
    argument; returned dicts are ignored, so ``ModelCheckpoint(monitor='val_loss')`` raises "could not find the
    monitored key" and ``test`` returns ``[{}]``). fastlit maps them with a DeprecationWarning each."""
    dl_train, dl_valid = _seed_004_loaders()
    pl.seed_everything(1234)
    model = Model()
    ckpt_callback = pl.callbacks.ModelCheckpoint(monitor='val_loss', save_top_k=1, mode='min')
    with pytest.warns(DeprecationWarning) as record:
        trainer = pl.Trainer(max_epochs=2, gpus=0, callbacks=[ckpt_callback], default_root_dir=str(tmp_path))
        trainer.fit(model, dl_train, dl_valid)
        result = trainer.test(model, test_dataloaders=dl_valid)
    messages = " ".join(str(w.message) for w in record)
    assert "gpus" in messages and "val_loss" in messages and "test_dataloaders" in messages
    assert trainer.checkpoint_callback.best_model_path.endswith(".ckpt")
    assert set(result[0]) == {"test_loss"}


def test_seed_004_verbatim_under_lightning_fails_as_documented(tmp_path: Any) -> None:
    lightning = pytest.importorskip("pytorch_lightning")

    class LModel(lightning.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.layers = Model().layers

    for name in ("forward", "training_step", "configure_optimizers", "validation_step", "test_step"):
        setattr(LModel, name, Model.__dict__[name])
    dl_train, dl_valid = _seed_004_loaders()
    with pytest.raises(TypeError, match="gpus"):
        lightning.Trainer(gpus=0)
    trainer = lightning.Trainer(max_epochs=2, default_root_dir=str(tmp_path), enable_progress_bar=False,
                                callbacks=[lightning.callbacks.ModelCheckpoint(monitor='val_loss', save_top_k=1,
                                                                               mode='min')])
    with pytest.raises(Exception, match="could not find the monitored key"):
        trainer.fit(LModel(), dl_train, dl_valid)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert lightning.Trainer(default_root_dir=str(tmp_path), enable_progress_bar=False).test(
            LModel(), dl_valid, verbose=False) == [{}]
