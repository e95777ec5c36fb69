"""``XLAStrategy``: not in fastlit (a placeholder that says what to use instead)."""
from fastlit._placeholders import placeholder_class, reason
from fastlit.strategies.ddp import DDPStrategy

XLAStrategy = placeholder_class(__name__, "XLAStrategy", *reason("xla"), bases=(DDPStrategy,))


# Names Lightning's module also exports, imported on first use (see fastlit._reexport).
from fastlit._reexport import lazy_exports  # noqa: E402

__getattr__ = lazy_exports(__name__, {
    "CheckpointIO": "fastlit.checkpoint.io",
    "Precision": "fastlit.plugins.precision.precision",
    "TBroadcast": "fastlit.strategies.strategy",
    "TrainerFn": "fastlit.trainer.states",
    "XLACheckpointIO": "fastlit.plugins.io.xla_plugin",
    "XLAEnvironment": "fastlit.plugins.environments",
    "XLAPrecision": "fastlit.plugins.precision.xla",
    "find_shared_parameters": "fastlit.utilities.parameter_tying",
    "rank_zero_only": "fastlit.utilities.rank_zero",
    "set_shared_parameters": "fastlit.utilities.parameter_tying",
})
