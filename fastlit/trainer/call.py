"""Lightning's ``trainer.call`` path (its hook-calling helpers are private; fastlit's Trainer calls hooks itself)."""
from fastlit._reexport import lazy_exports

# the names Lightning's module exports, imported on first use
__getattr__ = lazy_exports(__name__, {
    "Checkpoint": "fastlit.callbacks.checkpoint",
    "EarlyStopping": "fastlit.callbacks.early_stopping",
    "TrainerStatus": "fastlit.trainer.states",
    "WandbLogger": "fastlit.loggers.wandb",
    "is_overridden": "fastlit.utilities.model_helpers",
    "log": "@logger",
    "rank_zero_info": "fastlit.utilities.rank_zero",
    "rank_zero_warn": "fastlit.utilities.rank_zero",
})
