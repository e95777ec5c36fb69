"""``DeepSpeedStrategy``: not in fastlit (a placeholder that says what to use instead)."""
from fastlit._placeholders import placeholder_class, placeholder_function, reason
from fastlit.strategies.ddp import DDPStrategy

DeepSpeedStrategy = placeholder_class(__name__, "DeepSpeedStrategy", *reason("deepspeed"), bases=(DDPStrategy,))

remove_module_hooks = placeholder_function(__name__, "remove_module_hooks", *reason("deepspeed"))


# Names Lightning's module also exports, imported on first use (see fastlit._reexport).
from fastlit._reexport import lazy_exports  # noqa: E402

__getattr__ = lazy_exports(__name__, {
    "CUDAAccelerator": "fastlit.accelerators.cuda",
    "ClusterEnvironment": "fastlit.plugins.environments",
    "GradClipAlgorithmType": "fastlit.utilities.enums",
    "LRSchedulerConfig": "fastlit.utilities.types",
    "MisconfigurationException": "fastlit.utilities.exceptions",
    "Precision": "fastlit.plugins.precision.precision",
    "TrainerFn": "fastlit.trainer.states",
    "WarningCache": "fastlit.utilities.rank_zero",
    "is_overridden": "fastlit.utilities.model_helpers",
    "log": "@logger",
    "rank_zero_info": "fastlit.utilities.rank_zero",
    "rank_zero_warn": "fastlit.utilities.rank_zero",
    "reset_seed": "fastlit.utilities.seed",
    "warning_cache": "@warning_cache",
})
