"""``XLAPrecision``: a placeholder (see ``fastlit.plugins.precision.precision``)."""
from fastlit._placeholders import placeholder_class, reason
from fastlit.plugins.precision.precision import Precision

XLAPrecision = placeholder_class(__name__, "XLAPrecision", *reason("xla"), bases=(Precision,))
# Lightning 1.x's name
XLAPrecisionPlugin = placeholder_class(__name__, "XLAPrecisionPlugin", *reason("xla"), bases=(XLAPrecision,))
from fastlit.utilities.exceptions import MisconfigurationException  # noqa: E402,F401  (Lightning's exports these)
from fastlit.utilities.types import Optimizable  # noqa: E402,F401
