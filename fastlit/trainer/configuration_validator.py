"""Lightning's ``trainer.configuration_validator`` path (its checks are private; fastlit's are in
``fastlit.trainer``)."""
from fastlit._reexport import lazy_exports

# the names Lightning's module exports, imported on first use
__getattr__ = lazy_exports(__name__, {
    "MisconfigurationException": "fastlit.utilities.exceptions",
    "PossibleUserWarning": "fastlit.utilities.warnings",
    "TrainerFn": "fastlit.trainer.states",
    "is_overridden": "fastlit.utilities.model_helpers",
    "is_param_in_hook_signature": "fastlit.utilities.signature_utils",
    "rank_zero_deprecation": "fastlit.utilities.rank_zero",
    "rank_zero_warn": "fastlit.utilities.rank_zero",
})
