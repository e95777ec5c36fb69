"""``BitsandbytesPrecision``: a placeholder (see ``fastlit.plugins.precision.precision``)."""
from fastlit._placeholders import placeholder_class, reason
from fastlit.plugins.precision.precision import Precision

BitsandbytesPrecision = placeholder_class(__name__, "BitsandbytesPrecision", *reason("quantization"),
                                          bases=(Precision,))
# Lightning 1.x's name
BitsandbytesPrecisionPlugin = placeholder_class(__name__, "BitsandbytesPrecisionPlugin", *reason("quantization"),
                                                bases=(BitsandbytesPrecision,))
