"""``MixedPrecision``: a placeholder (see ``fastlit.plugins.precision.precision``)."""
from fastlit._placeholders import placeholder_class, reason
from fastlit.plugins.precision.precision import Precision

MixedPrecision = placeholder_class(__name__, "MixedPrecision", *reason("precision_plugin"), bases=(Precision,))
# Lightning 1.x's name
MixedPrecisionPlugin = placeholder_class(__name__, "MixedPrecisionPlugin", *reason("precision_plugin"),
                                         bases=(MixedPrecision,))
from fastlit.utilities.enums import GradClipAlgorithmType  # noqa: E402,F401  (Lightning's module exports these)
from fastlit.utilities.exceptions import MisconfigurationException  # noqa: E402,F401
from fastlit.utilities.types import Optimizable  # noqa: E402,F401
