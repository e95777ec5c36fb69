"""``FSDPPrecision``: a placeholder (see ``fastlit.plugins.precision.precision``)."""
from fastlit._placeholders import placeholder_class, reason
from fastlit.plugins.precision.precision import Precision

FSDPPrecision = placeholder_class(__name__, "FSDPPrecision", *reason("fsdp"), bases=(Precision,))
# Lightning 1.x's name
FSDPPrecisionPlugin = placeholder_class(__name__, "FSDPPrecisionPlugin", *reason("fsdp"), bases=(FSDPPrecision,))
from fastlit.utilities.apply_func import apply_to_collection  # noqa: E402,F401  (Lightning's module exports these)
from fastlit.utilities.exceptions import MisconfigurationException  # noqa: E402,F401
from fastlit.utilities.rank_zero import rank_zero_warn  # noqa: E402,F401
from fastlit.utilities.types import Optimizable  # noqa: E402,F401

FSDPMixedPrecisionPlugin = placeholder_class(__name__, "FSDPMixedPrecisionPlugin", *reason("fsdp"),
                                             bases=(FSDPPrecision,))
