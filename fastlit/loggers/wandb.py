"""``WandbLogger``: fastlit has no Weights & Biases (wandb) integration yet; the placeholder says what to use
instead."""
from fastlit._placeholders import placeholder_class, reason
from fastlit.loggers.logger import Logger

WandbLogger = placeholder_class(__name__, "WandbLogger", *reason("logger"), bases=(Logger,))


# Names Lightning's module also exports, imported on first use (see fastlit._reexport).
from fastlit._reexport import lazy_exports  # noqa: E402

__getattr__ = lazy_exports(__name__, {
    "MisconfigurationException": "fastlit.utilities.exceptions",
    "ModelCheckpoint": "fastlit.callbacks.model_checkpoint",
    "RequirementCache": "fastlit.utilities.imports",
    "rank_zero_experiment": "fastlit.loggers.logger",
    "rank_zero_only": "fastlit.utilities.rank_zero",
    "rank_zero_warn": "fastlit.utilities.rank_zero",
})
