"""Mixins of LightningModule/LightningDataModule: ``HyperparametersMixin`` (``save_hyperparameters``)."""
from fastlit.core.mixins.hparams_mixin import HyperparametersMixin

__all__ = ["HyperparametersMixin"]
