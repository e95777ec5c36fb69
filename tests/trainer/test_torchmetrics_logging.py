"""self.log with torchmetrics objects behaves as in Lightning: step value from forward, epoch value from compute(),
then reset() — compared with Lightning on the same model and data."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

torchmetrics = pytest.importorskip("torchmetrics")


def _module(pl):
    class Clf(pl.LightningModule):
        def __init__(self):
            super().__init__()
            torch.manual_seed(0)
            self.net = nn.Linear(6, 3)
            self.train_acc = torchmetrics.classification.MulticlassAccuracy(num_classes=3, average="micro")
            self.val_acc = torchmetrics.classification.MulticlassAccuracy(num_classes=3, average="micro")

        def training_step(self, batch, batch_idx):
            x, y = batch
            logits = self.net(x)
            self.train_acc(logits, y)
            self.log("train_acc", self.train_acc, on_step=True, on_epoch=True)
            return F.cross_entropy(logits, y)

        def validation_step(self, batch, batch_idx):
            x, y = batch
            self.val_acc.update(self.net(x), y)
            self.log("val_acc", self.val_acc)

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.5)

    return Clf


def _fit(pl, tmp_path):
    from fastlit.loggers import CSVLogger as FLCSV

    g = torch.Generator().manual_seed(3)
    data = TensorDataset(torch.randn(48, 6, generator=g), torch.randint(0, 3, (48,), generator=g))
    logger = (FLCSV if pl.__name__ == "fastlit" else pl.loggers.CSVLogger)(tmp_path)
    trainer = pl.Trainer(max_epochs=2, logger=logger, log_every_n_steps=1, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0)
    model = _module(pl)()
    trainer.fit(model, DataLoader(data, batch_size=12), DataLoader(data, batch_size=16))
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
    csv = (tmp_path / "lightning_logs" / "version_0" / "metrics.csv").read_text()
    return metrics, csv, model


def test_torchmetrics_logging_matches_lightning(tmp_path):
    lightning = pytest.importorskip("pytorch_lightning")
    import fastlit

    ours, our_csv, model = _fit(fastlit, tmp_path / "fl")
    theirs, their_csv, _ = _fit(lightning, tmp_path / "pl")
    assert set(ours) == set(theirs) == {"train_acc", "train_acc_step", "train_acc_epoch", "val_acc"}
    for k in theirs:
        assert ours[k] == pytest.approx(theirs[k], abs=1e-6), k
    assert our_csv == their_csv
    # compute() then reset(): nothing left accumulated after the run
    assert int(model.val_acc.tp.sum() + model.val_acc.fn.sum()) == 0
