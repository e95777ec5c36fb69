"""Lightning's ``loops.training_epoch_loop`` path; fastlit's epoch loop is in ``fastlit.trainer.fit_loop``."""


class RestartStage:
    """Where a resumed training epoch restarts (Lightning's loop bookkeeping)."""

    NONE = "none"
    RESTARTED_ON_TRAIN_BATCH_END = "restarted_on_train_batch_end"
    RESTARTED_ON_LAST = "restarted_on_last"


# Names Lightning's module also exports, imported on first use (see fastlit._reexport).
from fastlit._reexport import lazy_exports  # noqa: E402

__getattr__ = lazy_exports(__name__, {
    "MisconfigurationException": "fastlit.utilities.exceptions",
    "PossibleUserWarning": "fastlit.utilities.warnings",
    "RunningStage": "fastlit.trainer.states",
    "SIGTERMException": "fastlit.utilities.exceptions",
    "TrainerFn": "fastlit.trainer.states",
    "WarningCache": "fastlit.utilities.rank_zero",
    "is_param_in_hook_signature": "fastlit.utilities.signature_utils",
    "rank_zero_warn": "fastlit.utilities.rank_zero",
})
