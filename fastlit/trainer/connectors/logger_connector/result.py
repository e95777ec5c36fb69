"""Lightning's ``trainer.connectors.logger_connector.result`` path (see ``fastlit.trainer.connectors``)."""
from fastlit._reexport import lazy_exports

# the names Lightning's module exports, imported on first use
__getattr__ = lazy_exports(__name__, {
    "MisconfigurationException": "fastlit.utilities.exceptions",
    "PossibleUserWarning": "fastlit.utilities.warnings",
    "WarningCache": "fastlit.utilities.rank_zero",
    "apply_to_collection": "fastlit.utilities.apply_func",
    "convert_tensors_to_scalars": "fastlit.utilities.apply_func",
    "extract_batch_size": "fastlit.utilities.data",
    "move_data_to_device": "fastlit.utilities.apply_func",
    "rank_zero_warn": "fastlit.utilities.rank_zero",
    "recursive_detach": "fastlit.utilities.memory",
    "warning_cache": "@warning_cache",
})
