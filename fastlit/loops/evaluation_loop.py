"""Lightning's ``loops.evaluation_loop`` path; fastlit's evaluation loop is ``fastlit.trainer.eval_loop``."""


class RestartStage:
    """Where a resumed evaluation restarts (Lightning's loop bookkeeping)."""

    NONE = "none"
    RESTARTED_MID_EVALUATION = "restarted_mid_evaluation"


# Names Lightning's module also exports, imported on first use (see fastlit._reexport).
from fastlit._reexport import lazy_exports  # noqa: E402

__getattr__ = lazy_exports(__name__, {
    "CombinedLoader": "fastlit.utilities.combined_loader",
    "RunningStage": "fastlit.trainer.states",
    "SIGTERMException": "fastlit.utilities.exceptions",
    "TrainerFn": "fastlit.trainer.states",
    "apply_to_collection": "fastlit.utilities.apply_func",
    "has_len_all_ranks": "fastlit.utilities.data",
    "is_overridden": "fastlit.utilities.model_helpers",
    "is_param_in_hook_signature": "fastlit.utilities.signature_utils",
})
