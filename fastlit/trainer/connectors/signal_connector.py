"""Lightning's ``trainer.connectors.signal_connector`` path (see ``fastlit.trainer.connectors``)."""
from fastlit._reexport import lazy_exports

# the names Lightning's module exports, imported on first use
__getattr__ = lazy_exports(__name__, {
    "SLURMEnvironment": "fastlit.plugins.environments",
    "log": "@logger",
    "rank_prefixed_message": "fastlit.utilities.rank_zero",
    "rank_zero_info": "fastlit.utilities.rank_zero",
})
