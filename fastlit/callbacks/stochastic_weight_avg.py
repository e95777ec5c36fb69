"""``StochasticWeightAveraging``: not in fastlit yet (placeholder)."""
from fastlit._placeholders import placeholder_class
from fastlit.callbacks.callback import Callback

StochasticWeightAveraging = placeholder_class(
    __name__, "StochasticWeightAveraging", "fastlit has no stochastic weight averaging callback yet",
    "Use torch.optim.swa_utils.AveragedModel / SWALR from your own Callback.", bases=(Callback,))


# Names Lightning's module also exports, imported on first use (see fastlit._reexport).
from fastlit._reexport import lazy_exports  # noqa: E402

__getattr__ = lazy_exports(__name__, {
    "DeepSpeedStrategy": "fastlit.strategies.deepspeed",
    "FSDPStrategy": "fastlit.strategies.fsdp",
    "LRSchedulerConfig": "fastlit.utilities.types",
    "MisconfigurationException": "fastlit.utilities.exceptions",
    "rank_zero_info": "fastlit.utilities.rank_zero",
    "rank_zero_warn": "fastlit.utilities.rank_zero",
})
