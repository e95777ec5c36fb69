"""Lightning's ``trainer.connectors.checkpoint_connector`` path (see ``fastlit.trainer.connectors``)."""
from fastlit._reexport import lazy_exports

# the names Lightning's module exports, imported on first use
__getattr__ = lazy_exports(__name__, {
    "MisconfigurationException": "fastlit.utilities.exceptions",
    "MixedPrecision": "fastlit.plugins.precision.amp",
    "ModelCheckpoint": "fastlit.callbacks.model_checkpoint",
    "SLURMEnvironment": "fastlit.plugins.environments",
    "TrainerFn": "fastlit.trainer.states",
    "find_model_local_ckpt_path": "fastlit.utilities.model_registry",
    "get_filesystem": "fastlit.utilities.cloud_io",
    "log": "@logger",
    "module_available": "fastlit.utilities.imports",
    "pl_legacy_patch": "fastlit.utilities.migration",
    "rank_zero_info": "fastlit.utilities.rank_zero",
    "rank_zero_warn": "fastlit.utilities.rank_zero",
})
