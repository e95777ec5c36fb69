"""Callbacks users import from ``lightning.pytorch.callbacks``."""
from fastlit.callbacks.callback import Callback
from fastlit.callbacks.checkpoint import Checkpoint
from fastlit.callbacks.early_stopping import EarlyStopping
from fastlit.callbacks.model_checkpoint import ModelCheckpoint
from fastlit.callbacks.model_summary import ModelSummary
from fastlit.callbacks.progress import ProgressBar, TQDMProgressBar

__all__ = ["Callback", "Checkpoint", "EarlyStopping", "ModelCheckpoint", "ModelSummary", "ProgressBar",
           "TQDMProgressBar"]
