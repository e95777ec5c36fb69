"""Lightning 2.6.6 names that fastlit deliberately does not provide (``tests/test_import_surface.py`` allows at most
2% of all names here, and fails when an entry is stale: the name exists in fastlit or no longer in Lightning).

Keys are ``"<lightning module>:<name>"``; values say why. Everything else Lightning exports exists in fastlit --
for an unsupported feature as a placeholder that raises a clear error when used (``fastlit._placeholders``).
"""

_FABRIC = ("Lightning Fabric's own class/function, imported into this module under a Fabric name; fastlit has no "
           "Fabric, and the PyTorch-Lightning-level name next to it exists")
_FABRIC_THROUGHPUT = ("Lightning Fabric's precision-plugin-to-dtype helper; fastlit's ThroughputMonitor reads the "
                      "Trainer's precision setting instead (fastlit.utilities.throughput.precision_to_compute_dtype)")

EXCEPTIONS: dict[str, str] = {
    "pytorch_lightning.accelerators.xla:FabricXLAAccelerator": _FABRIC,
    "pytorch_lightning.callbacks.spike:FabricSpikeDetection": _FABRIC,
    "pytorch_lightning.callbacks.throughput_monitor:FabricPrecision": _FABRIC,
    "pytorch_lightning.callbacks.throughput_monitor:fabric_plugin_to_compute_dtype": _FABRIC_THROUGHPUT,
    "pytorch_lightning.core.module:FabricLogger": _FABRIC,
    "pytorch_lightning.loggers.csv_logs:FabricCSVLogger": _FABRIC,
    "pytorch_lightning.loggers.logger:FabricLogger": _FABRIC,
    "pytorch_lightning.loggers.tensorboard:FabricTensorBoardLogger": _FABRIC,
    "pytorch_lightning.plugins.precision.bitsandbytes:FabricBNBPrecision": _FABRIC,
    "pytorch_lightning.plugins.precision.precision:FabricPrecision": _FABRIC,
    "pytorch_lightning.plugins.precision.transformer_engine:FabricTEPrecision": _FABRIC,
}
