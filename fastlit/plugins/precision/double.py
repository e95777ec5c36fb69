"""``DoublePrecision``: a placeholder (see ``fastlit.plugins.precision.precision``)."""
from fastlit._placeholders import placeholder_class, reason
from fastlit.plugins.precision.precision import Precision

DoublePrecision = placeholder_class(__name__, "DoublePrecision", *reason("precision_plugin"), bases=(Precision,))
# Lightning 1.x's name
DoublePrecisionPlugin = placeholder_class(__name__, "DoublePrecisionPlugin", *reason("precision_plugin"),
                                          bases=(DoublePrecision,))
from fastlit.utilities.apply_func import apply_to_collection  # noqa: E402,F401  (Lightning's module exports these)
from fastlit.utilities.rank_zero import rank_zero_deprecation  # noqa: E402,F401

LightningDoublePrecisionModule = placeholder_class(__name__, "LightningDoublePrecisionModule",
                                                   *reason("precision_plugin"))
