"""The seed tutorial's CNN digit classifier: seed_everything, ModelCheckpoint, fit, test, reload the best checkpoint.

The tutorial classifies MNIST (28x28, downloaded); this is the same program on scikit-learn's bundled 8x8 digits.
The network keeps the tutorial's layer list (conv, pool, conv, pool, Dropout2d, AdaptiveMaxPool2d, Flatten,
Linear-ReLU-Linear) with kernel sizes that fit an 8x8 image. As in the tutorial: ``pl.seed_everything(1234)``,
``ModelCheckpoint(monitor="val_loss", save_top_k=1, mode="min")``, ``trainer.fit(model, dl_train, dl_valid)``,
``trainer.test`` returning ``[{"test_loss": ...}]``, ``checkpoint_callback.best_model_path`` /
``best_model_score``, then ``Model.load_from_checkpoint`` of the best checkpoint and a second ``test``.

The tutorial's ``validation_step`` returns ``{"val_loss": loss}`` (Lightning 1.x style). Lightning 2.x ignores a
returned dict, so this example calls ``self.log`` instead (fastlit would also accept the 1.x form, with a
DeprecationWarning; see docs/migrating-from-lightning.md).

Run:   python examples/cnn_classifier.py            (20 epochs, ~7 s of CPU with OMP_NUM_THREADS=1)
       python examples/cnn_classifier.py --fast     (3 epochs; FASTLIT_EXAMPLES_FAST=1 does the same)

Full setting: test accuracy 0.976 (test loss 0.089) on 297 held-out digits; the best checkpoint (lowest val_loss)
reloaded scores 0.980. Tiny setting: 0.936.
"""
from __future__ import annotations

import os

import torch
from torch import nn
from torch.utils.data import DataLoader

import fastlit as pl
from _digits import cli, digits_splits  # the data and --fast/--root: not tutorial code


class Model(pl.LightningModule):
    def __init__(self, lr: float = 1e-3) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.layers = nn.ModuleList([
            nn.Conv2d(in_channels=1, out_channels=32, kernel_size=3, padding=1),
            nn.MaxPool2d(kernel_size=2, stride=2),
            nn.Conv2d(in_channels=32, out_channels=64, kernel_size=3),
            nn.MaxPool2d(kernel_size=2, stride=2),
            nn.Dropout2d(p=0.1),
            nn.AdaptiveMaxPool2d((1, 1)),
            nn.Flatten(),
            nn.Linear(64, 32),
            nn.ReLU(),
            nn.Linear(32, 10),
        ])
        self.example_input_array = torch.zeros(1, 1, 8, 8)  # the model summary shows in/out sizes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x)
        return x

    def _shared(self, batch) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = batch
        logits = self(x)
        return nn.functional.cross_entropy(logits, y), (logits.argmax(1) == y).float().mean()

    def training_step(self, batch, batch_idx):
        loss, _ = self._shared(batch)
        return loss

    def validation_step(self, batch, batch_idx):
        loss, acc = self._shared(batch)
        self.log("val_loss", loss, prog_bar=True)
        self.log("val_acc", acc, prog_bar=True)

    def test_step(self, batch, batch_idx):
        loss, acc = self._shared(batch)
        self.log("test_loss", loss)
        self.log("test_acc", acc)

    def configure_optimizers(self):
        optimizer = torch.optim.Adam(self.parameters(), lr=self.hparams.lr)
        return {"optimizer": optimizer}


def main(fast: bool, root: str) -> dict[str, float]:
    pl.seed_everything(1234)
    ds_train, ds_valid, ds_test = digits_splits()
    dl_train = DataLoader(ds_train, batch_size=32, shuffle=True)
    dl_valid = DataLoader(ds_valid, batch_size=128)
    dl_test = DataLoader(ds_test, batch_size=128)

    model = Model(lr=3e-3)
    ckpt_callback = pl.callbacks.ModelCheckpoint(monitor="val_loss", save_top_k=1, mode="min")
    trainer = pl.Trainer(max_epochs=3 if fast else 20, callbacks=[ckpt_callback], default_root_dir=root,
                         log_every_n_steps=10, enable_progress_bar=not fast)
    trainer.fit(model, dl_train, dl_valid)
    result = trainer.test(model, dataloaders=dl_test)
    print(result)

    print(os.path.relpath(trainer.checkpoint_callback.best_model_path, root))
    print(trainer.checkpoint_callback.best_model_score)

    # The tutorial's "use the model" step: logits for one batch.
    data, label = next(iter(dl_test))
    model.eval()
    with torch.no_grad():
        prediction = model(data)
    print(f"first batch: {(prediction.argmax(1) == label).sum().item()}/{len(label)} right")

    model_clone = Model.load_from_checkpoint(trainer.checkpoint_callback.best_model_path)
    trainer_clone = pl.Trainer(max_epochs=3, logger=False, enable_progress_bar=False)
    result_clone = trainer_clone.test(model_clone, dl_test, verbose=False)
    print(f"best checkpoint reloaded: test_acc {result_clone[0]['test_acc']:.4f}, "
          f"test_loss {result_clone[0]['test_loss']:.4f}")
    print(f"cnn classifier test accuracy: {result[0]['test_acc']:.4f} (test loss {result[0]['test_loss']:.4f})")
    return {"test_acc": result[0]["test_acc"], "test_loss": result[0]["test_loss"],
            "reloaded_acc": result_clone[0]["test_acc"], "best_score": float(ckpt_callback.best_model_score)}


if __name__ == "__main__":
    cli(main, __doc__, fast_epochs=3)
