"""Lightning's ``core`` package paths: module, datamodule, optimizer wrapper, hyperparameter mixin."""
from fastlit.core.datamodule import LightningDataModule
from fastlit.core.mixins import HyperparametersMixin
from fastlit.core.module import LightningModule

__all__ = ["HyperparametersMixin", "LightningDataModule", "LightningModule"]
