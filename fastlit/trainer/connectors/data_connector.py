"""Lightning's ``trainer.connectors.data_connector`` path (see ``fastlit.trainer.connectors``)."""
from fastlit._reexport import lazy_exports

# the names Lightning's module exports, imported on first use
__getattr__ = lazy_exports(__name__, {
    "CombinedLoader": "fastlit.utilities.combined_loader",
    "DistributedSamplerWrapper": "fastlit.overrides.distributed",
    "MisconfigurationException": "fastlit.utilities.exceptions",
    "PossibleUserWarning": "fastlit.utilities.warnings",
    "RunningStage": "fastlit.trainer.states",
    "TrainerFn": "fastlit.trainer.states",
    "UnrepeatedDistributedSamplerWrapper": "fastlit.overrides.distributed",
    "WarningCache": "fastlit.utilities.rank_zero",
    "has_iterable_dataset": "fastlit.utilities.data",
    "is_overridden": "fastlit.utilities.model_helpers",
    "rank_zero_warn": "fastlit.utilities.rank_zero",
    "suggested_max_num_workers": "fastlit.utilities.data",
    "warning_cache": "@warning_cache",
})
