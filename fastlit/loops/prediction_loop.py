"""Lightning's ``loops.prediction_loop`` path; fastlit's prediction loop is ``fastlit.trainer.eval_loop``."""


# Names Lightning's module also exports, imported on first use (see fastlit._reexport).
from fastlit._reexport import lazy_exports  # noqa: E402

__getattr__ = lazy_exports(__name__, {
    "BasePredictionWriter": "fastlit.callbacks.prediction_writer",
    "CombinedLoader": "fastlit.utilities.combined_loader",
    "MisconfigurationException": "fastlit.utilities.exceptions",
    "RunningStage": "fastlit.trainer.states",
    "TrainerFn": "fastlit.trainer.states",
    "WarningCache": "fastlit.utilities.rank_zero",
    "has_len_all_ranks": "fastlit.utilities.data",
    "is_param_in_hook_signature": "fastlit.utilities.signature_utils",
    "move_data_to_device": "fastlit.utilities.apply_func",
})
