"""``SingleDeviceXLAStrategy``: not in fastlit (a placeholder that says what to use instead)."""
from fastlit._placeholders import placeholder_class, reason
from fastlit.strategies.single_device import SingleDeviceStrategy

SingleDeviceXLAStrategy = placeholder_class(__name__, "SingleDeviceXLAStrategy", *reason("xla"),
                                            bases=(SingleDeviceStrategy,))


# Names Lightning's module also exports, imported on first use (see fastlit._reexport).
from fastlit._reexport import lazy_exports  # noqa: E402

__getattr__ = lazy_exports(__name__, {
    "CheckpointIO": "fastlit.checkpoint.io",
    "Precision": "fastlit.plugins.precision.precision",
    "TrainerFn": "fastlit.trainer.states",
    "XLACheckpointIO": "fastlit.plugins.io.xla_plugin",
    "XLAPrecision": "fastlit.plugins.precision.xla",
    "find_shared_parameters": "fastlit.utilities.parameter_tying",
    "set_shared_parameters": "fastlit.utilities.parameter_tying",
})
