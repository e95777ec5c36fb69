"""``ThroughputMonitor``: not in fastlit yet (placeholder)."""
from fastlit._placeholders import placeholder_class
from fastlit.callbacks.callback import Callback

ThroughputMonitor = placeholder_class(
    __name__, "ThroughputMonitor", "fastlit has no throughput monitor callback yet",
    "Time batches in your own Callback (on_train_batch_start/end), or run `fastlit bench` for per-step cost.",
    bases=(Callback,))


# Names Lightning's module also exports, imported on first use (see fastlit._reexport).
from fastlit._reexport import lazy_exports  # noqa: E402

__getattr__ = lazy_exports(__name__, {
    "BitsandbytesPrecision": "fastlit.plugins.precision.bitsandbytes",
    "DeepSpeedPrecision": "fastlit.plugins.precision.deepspeed",
    "DoublePrecision": "fastlit.plugins.precision.double",
    "FSDPPrecision": "fastlit.plugins.precision.fsdp",
    "HalfPrecision": "fastlit.plugins.precision.half",
    "MixedPrecision": "fastlit.plugins.precision.amp",
    "Precision": "fastlit.plugins.precision.precision",
    "RunningStage": "fastlit.trainer.states",
    "TrainerFn": "fastlit.trainer.states",
    "TransformerEnginePrecision": "fastlit.plugins.precision.transformer_engine",
    "XLAPrecision": "fastlit.plugins.precision.xla",
    "rank_zero_only": "fastlit.utilities.rank_zero",
    "rank_zero_warn": "fastlit.utilities.rank_zero",
})
