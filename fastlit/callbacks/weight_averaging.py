"""``WeightAveraging`` / ``EMAWeightAveraging``: not in fastlit yet (placeholders)."""
from fastlit._placeholders import placeholder_class
from fastlit.callbacks.callback import Callback

_INSTEAD = "Keep an average with torch.optim.swa_utils.AveragedModel (get_ema_multi_avg_fn for EMA) from your own " \
           "Callback."
WeightAveraging = placeholder_class(__name__, "WeightAveraging", "fastlit has no weight averaging callback yet",
                                    _INSTEAD, bases=(Callback,))
EMAWeightAveraging = placeholder_class(__name__, "EMAWeightAveraging", "fastlit has no weight averaging callback yet",
                                       _INSTEAD, bases=(WeightAveraging,))


# Names Lightning's module also exports, imported on first use (see fastlit._reexport).
from fastlit._reexport import lazy_exports  # noqa: E402

__getattr__ = lazy_exports(__name__, {
    "is_overridden": "fastlit.utilities.model_helpers",
    "rank_zero_info": "fastlit.utilities.rank_zero",
    "rank_zero_warn": "fastlit.utilities.rank_zero",
})
