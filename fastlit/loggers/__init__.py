"""Experiment loggers with Lightning 2.x names and files: ``TensorBoardLogger`` (default) and ``CSVLogger``.
Comet, MLflow, Weights & Biases and LitLogger are placeholders that say what to use instead.

Importing this package does not import tensorboard; the ``SummaryWriter`` is created on first use.
"""

from fastlit.loggers.comet import CometLogger
from fastlit.loggers.csv_logs import CSVLogger
from fastlit.loggers.litlogger import LitLogger
from fastlit.loggers.logger import Logger
from fastlit.loggers.mlflow import MLFlowLogger
from fastlit.loggers.tensorboard import TensorBoardLogger
from fastlit.loggers.wandb import WandbLogger

__all__ = ["CSVLogger", "CometLogger", "LitLogger", "Logger", "MLFlowLogger", "TensorBoardLogger", "WandbLogger"]
