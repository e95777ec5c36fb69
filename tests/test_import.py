"""`import fastlit` stays light and exposes Lightning's public names."""
import subprocess
import sys


def test_import_does_not_load_heavy_optional_modules():
    code = ("import sys, fastlit; heavy = ['tensorboard', 'torch.utils.tensorboard', 'yaml', "
            "'pytorch_lightning', 'lightning']; print([m for m in heavy if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_lightning_names_are_the_same_objects():
    import fastlit as pl

    assert pl.Module is pl.LightningModule and pl.DataModule is pl.LightningDataModule
    from fastlit.callbacks import Callback, EarlyStopping, ModelCheckpoint  # noqa: F401
    from fastlit.loggers import CSVLogger, TensorBoardLogger  # noqa: F401

    assert pl.Callback is Callback
    assert isinstance(pl.__version__, str)
