"""Lightning's ``trainer.connectors.logger_connector.logger_connector`` path (see ``fastlit.trainer.connectors``)."""
from fastlit._reexport import lazy_exports

# the names Lightning's module exports, imported on first use
__getattr__ = lazy_exports(__name__, {
    "CSVLogger": "fastlit.loggers.csv_logs",
    "LitLogger": "fastlit.loggers.litlogger",
    "Logger": "fastlit.loggers.logger",
    "SLURMEnvironment": "fastlit.plugins.environments",
    "TensorBoardLogger": "fastlit.loggers.tensorboard",
    "WarningCache": "fastlit.utilities.rank_zero",
    "apply_to_collection": "fastlit.utilities.apply_func",
    "convert_tensors_to_scalars": "fastlit.utilities.apply_func",
    "move_data_to_device": "fastlit.utilities.apply_func",
    "rank_zero_info": "fastlit.utilities.rank_zero",
    "warning_cache": "@warning_cache",
})
