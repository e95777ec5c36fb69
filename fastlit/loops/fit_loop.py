"""Lightning's ``loops.fit_loop`` path; fastlit's fit loop is ``fastlit.trainer.fit_loop``."""


class RestartStage:
    """Where a resumed fit restarts (Lightning's loop bookkeeping; fastlit resumes from its own checkpoint state)."""

    NONE = "none"
    RESTARTED_ON_EPOCH_START = "restarted_on_epoch_start"
    RESTARTED_MID_EPOCH = "restarted_mid_epoch"
    RESTARTED_ON_EPOCH_END = "restarted_on_epoch_end"
    RESUMED_ON_EPOCH_END = "resumed_on_epoch_end"


# Names Lightning's module also exports, imported on first use (see fastlit._reexport).
from fastlit._reexport import lazy_exports  # noqa: E402

__getattr__ = lazy_exports(__name__, {
    "CombinedLoader": "fastlit.utilities.combined_loader",
    "MisconfigurationException": "fastlit.utilities.exceptions",
    "PossibleUserWarning": "fastlit.utilities.warnings",
    "RunningStage": "fastlit.trainer.states",
    "SIGTERMException": "fastlit.utilities.exceptions",
    "TrainerFn": "fastlit.trainer.states",
    "has_len_all_ranks": "fastlit.utilities.data",
    "is_overridden": "fastlit.utilities.model_helpers",
    "log": "@logger",
    "rank_zero_debug": "fastlit.utilities.rank_zero",
    "rank_zero_info": "fastlit.utilities.rank_zero",
    "rank_zero_warn": "fastlit.utilities.rank_zero",
    "sized_len": "fastlit.utilities.data",
})
