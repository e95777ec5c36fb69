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
# Lightning's other callbacks: finetuning is real, the rest are placeholders that say what to use instead
from fastlit.callbacks.finetuning import BackboneFinetuning, BaseFinetuning
from fastlit.callbacks.progress import RichProgressBar
from fastlit.callbacks.pruning import ModelPruning
from fastlit.callbacks.rich_model_summary import RichModelSummary
from fastlit.callbacks.spike import SpikeDetection
from fastlit.callbacks.stochastic_weight_avg import StochasticWeightAveraging
from fastlit.callbacks.throughput_monitor import ThroughputMonitor
from fastlit.callbacks.weight_averaging import EMAWeightAveraging, WeightAveraging

__all__ = ["BackboneFinetuning", "BaseFinetuning", "BasePredictionWriter", "BatchSizeFinder", "Callback",
           "Checkpoint", "DeviceStatsMonitor", "EMAWeightAveraging", "EarlyStopping", "GradientAccumulationScheduler",
           "LambdaCallback", "LearningRateFinder", "LearningRateMonitor", "ModelCheckpoint", "ModelPruning",
           "ModelSummary", "OnExceptionCheckpoint", "ProgressBar", "RichModelSummary", "RichProgressBar",
           "SpikeDetection", "StochasticWeightAveraging", "TQDMProgressBar", "ThroughputMonitor", "Timer",
           "WeightAveraging"]
