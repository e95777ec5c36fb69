"""Lightning's ``trainer.connectors.callback_connector`` path (see ``fastlit.trainer.connectors``)."""
from fastlit._reexport import lazy_exports

# the names Lightning's module exports, imported on first use
__getattr__ = lazy_exports(__name__, {
    "BatchSizeFinder": "fastlit.callbacks.batch_size_finder",
    "Callback": "fastlit.callbacks.callback",
    "Checkpoint": "fastlit.callbacks.checkpoint",
    "LearningRateFinder": "fastlit.callbacks.lr_finder",
    "LitLogger": "fastlit.loggers.litlogger",
    "MisconfigurationException": "fastlit.utilities.exceptions",
    "ModelCheckpoint": "fastlit.callbacks.model_checkpoint",
    "ModelSummary": "fastlit.callbacks.model_summary",
    "ProgressBar": "fastlit.callbacks.progress.progress_bar",
    "RequirementCache": "fastlit.utilities.imports",
    "RichModelSummary": "fastlit.callbacks.rich_model_summary",
    "RichProgressBar": "fastlit.callbacks.progress.rich_progress",
    "TQDMProgressBar": "fastlit.callbacks.progress.tqdm_progress",
    "Timer": "fastlit.callbacks.timer",
    "is_overridden": "fastlit.utilities.model_helpers",
    "rank_zero_info": "fastlit.utilities.rank_zero",
})
