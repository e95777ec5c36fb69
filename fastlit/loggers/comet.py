"""``CometLogger``: fastlit has no Comet (comet_ml) integration yet; the placeholder says what to use instead."""
from typing import Any

from fastlit._placeholders import placeholder_class, reason
from fastlit.loggers.logger import Logger

CometLogger = placeholder_class(__name__, "CometLogger", *reason("logger"), bases=(Logger,))

FRAMEWORK_NAME = "pytorch-lightning"  # what Lightning reports to Comet as the framework
comet_experiment = Any  # Lightning's alias for comet_ml's Experiment types (comet_ml is not a fastlit dependency)


# Names Lightning's module also exports, imported on first use (see fastlit._reexport).
from fastlit._reexport import lazy_exports  # noqa: E402

__getattr__ = lazy_exports(__name__, {
    "RequirementCache": "fastlit.utilities.imports",
    "log": "@logger",
    "rank_zero_experiment": "fastlit.loggers.logger",
    "rank_zero_only": "fastlit.utilities.rank_zero",
})
