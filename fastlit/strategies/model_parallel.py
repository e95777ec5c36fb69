"""``ModelParallelStrategy``: not in fastlit (a placeholder that says what to use instead)."""
from fastlit._placeholders import placeholder_class, reason
from fastlit.strategies.parallel import ParallelStrategy

ModelParallelStrategy = placeholder_class(__name__, "ModelParallelStrategy", *reason("model_parallel"),
                                          bases=(ParallelStrategy,))


# Names Lightning's module also exports, imported on first use (see fastlit._reexport).
from fastlit._reexport import lazy_exports  # noqa: E402

__getattr__ = lazy_exports(__name__, {
    "LightningOptimizer": "fastlit.core.optimizer",
    "TBroadcast": "fastlit.strategies.strategy",
    "TrainerFn": "fastlit.trainer.states",
    "is_overridden": "fastlit.utilities.model_helpers",
    "rank_zero_only": "fastlit.utilities.rank_zero",
    "reset_seed": "fastlit.utilities.seed",
    "utils_rank_zero_only": "fastlit.utilities.rank_zero:rank_zero_only",
})
