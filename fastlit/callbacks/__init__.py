"""Callbacks users import from ``lightning.pytorch.callbacks``."""
from fastlit.callbacks.callback import Callback
from fastlit.callbacks.checkpoint import Checkpoint
from fastlit.callbacks.early_stopping import EarlyStopping
from fastlit.callbacks.model_checkpoint import ModelCheckpoint
from fastlit.callbacks.model_summary import ModelSummary
from fastlit.callbacks.progress import ProgressBar, TQDMProgressBar
from fastlit.callbacks.batch_size_finder import BatchSizeFinder
from fastlit.callbacks.device_stats_monitor import DeviceStatsMonitor
from fastlit.callbacks.gradient_accumulation_scheduler import GradientAccumulationScheduler
from fastlit.callbacks.lambda_function import LambdaCallback
from fastlit.callbacks.lr_finder import LearningRateFinder
from fastlit.callbacks.lr_monitor import LearningRateMonitor
from fastlit.callbacks.on_exception_checkpoint import OnExceptionCheckpoint
from fastlit.callbacks.prediction_writer import BasePredictionWriter
from fastlit.callbacks.timer import Timer

__all__ = ["BasePredictionWriter", "BatchSizeFinder", "Callback", "Checkpoint", "DeviceStatsMonitor",
           "EarlyStopping", "GradientAccumulationScheduler", "LambdaCallback", "LearningRateFinder",
           "LearningRateMonitor", "ModelCheckpoint", "ModelSummary", "OnExceptionCheckpoint", "ProgressBar",
           "TQDMProgressBar", "Timer"]
