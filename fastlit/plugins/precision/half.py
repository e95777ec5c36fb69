"""``HalfPrecision``: a placeholder (see ``fastlit.plugins.precision.precision``)."""
from fastlit._placeholders import placeholder_class, reason
from fastlit.plugins.precision.precision import Precision

HalfPrecision = placeholder_class(__name__, "HalfPrecision", *reason("precision_plugin"), bases=(Precision,))
# Lightning 1.x's name
HalfPrecisionPlugin = placeholder_class(__name__, "HalfPrecisionPlugin", *reason("precision_plugin"),
                                        bases=(HalfPrecision,))
from fastlit.utilities.apply_func import apply_to_collection  # noqa: E402,F401  (Lightning's module exports it)
