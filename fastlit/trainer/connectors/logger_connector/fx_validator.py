"""Lightning's ``trainer.connectors.logger_connector.fx_validator`` path (see ``fastlit.trainer.connectors``)."""
from fastlit._reexport import lazy_exports

# the names Lightning's module exports, imported on first use
__getattr__ = lazy_exports(__name__, {
    "MisconfigurationException": "fastlit.utilities.exceptions",
})
