"""``TransformerEnginePrecision``: a placeholder (see ``fastlit.plugins.precision.precision``)."""
from fastlit._placeholders import placeholder_class, reason
from fastlit.plugins.precision.precision import Precision

TransformerEnginePrecision = placeholder_class(__name__, "TransformerEnginePrecision", *reason("quantization"),
                                               bases=(Precision,))
# Lightning 1.x's name
TransformerEnginePrecisionPlugin = placeholder_class(__name__, "TransformerEnginePrecisionPlugin",
                                                     *reason("quantization"), bases=(TransformerEnginePrecision,))
