"""``DeepSpeedPrecision``: a placeholder (see ``fastlit.plugins.precision.precision``)."""
from fastlit._placeholders import placeholder_class, reason
from fastlit.plugins.precision.precision import Precision

DeepSpeedPrecision = placeholder_class(__name__, "DeepSpeedPrecision", *reason("deepspeed"), bases=(Precision,))
# Lightning 1.x's name
DeepSpeedPrecisionPlugin = placeholder_class(__name__, "DeepSpeedPrecisionPlugin", *reason("deepspeed"),
                                             bases=(DeepSpeedPrecision,))
from fastlit.utilities.apply_func import apply_to_collection  # noqa: E402,F401  (Lightning's module exports these)
from fastlit.utilities.enums import GradClipAlgorithmType  # noqa: E402,F401
from fastlit.utilities.exceptions import MisconfigurationException  # noqa: E402,F401
from fastlit.utilities.model_helpers import is_overridden  # noqa: E402,F401
from fastlit.utilities.rank_zero import WarningCache  # noqa: E402
from fastlit.utilities.types import Steppable  # noqa: E402,F401

warning_cache = WarningCache()
