"""``FSDPStrategy``: not in fastlit (a placeholder that says what to use instead)."""
from fastlit._placeholders import placeholder_class, reason
from fastlit.strategies.parallel import ParallelStrategy

FSDPStrategy = placeholder_class(__name__, "FSDPStrategy", *reason("fsdp"), bases=(ParallelStrategy,))


# Names Lightning's module also exports, imported on first use (see fastlit._reexport).
from fastlit._reexport import lazy_exports  # noqa: E402

__getattr__ = lazy_exports(__name__, {
    "CheckpointIO": "fastlit.checkpoint.io",
    "ClusterEnvironment": "fastlit.plugins.environments",
    "FSDPPrecision": "fastlit.plugins.precision.fsdp",
    "LightningOptimizer": "fastlit.core.optimizer",
    "Precision": "fastlit.plugins.precision.precision",
    "TBroadcast": "fastlit.strategies.strategy",
    "TrainerFn": "fastlit.trainer.states",
    "is_overridden": "fastlit.utilities.model_helpers",
    "log": "@logger",
    "rank_zero_info": "fastlit.utilities.rank_zero",
    "rank_zero_only": "fastlit.utilities.rank_zero",
    "rank_zero_warn": "fastlit.utilities.rank_zero",
    "reset_seed": "fastlit.utilities.seed",
    "utils_rank_zero_only": "fastlit.utilities.rank_zero:rank_zero_only",
})
