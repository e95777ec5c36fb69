"""Experiment loggers with Lightning 2.x names and files: ``TensorBoardLogger`` (default) and ``CSVLogger``.

Importing this package does not import tensorboard; the ``SummaryWriter`` is created on first use.
"""

from fastlit.loggers.csv_logs import CSVLogger
from fastlit.loggers.logger import Logger
from fastlit.loggers.tensorboard import TensorBoardLogger

__all__ = ["CSVLogger", "Logger", "TensorBoardLogger"]
