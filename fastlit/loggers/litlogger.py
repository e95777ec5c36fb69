"""``LitLogger``: fastlit has no LitLogger (litlogger) integration yet; the placeholder says what to use instead."""
from fastlit._placeholders import placeholder_class, reason
from fastlit.loggers.logger import Logger

LitLogger = placeholder_class(__name__, "LitLogger", *reason("logger"), bases=(Logger,))


# Names Lightning's module also exports, imported on first use (see fastlit._reexport).
from fastlit._reexport import lazy_exports  # noqa: E402

__getattr__ = lazy_exports(__name__, {
    "ModelCheckpoint": "fastlit.callbacks.model_checkpoint",
    "RequirementCache": "fastlit.utilities.imports",
    "get_filesystem": "fastlit.utilities.cloud_io",
    "log": "@logger",
    "rank_zero_experiment": "fastlit.loggers.logger",
    "rank_zero_only": "fastlit.utilities.rank_zero",
})
