"""Precision plugins. fastlit takes the precision as ``Trainer(precision="16-mixed" | "bf16-mixed" | ...)``;
these plugin classes are placeholders that say so when constructed."""
from fastlit._placeholders import placeholder_class, reason
from fastlit.plugins.precision.amp import MixedPrecision, MixedPrecisionPlugin
from fastlit.plugins.precision.bitsandbytes import BitsandbytesPrecision, BitsandbytesPrecisionPlugin
from fastlit.plugins.precision.deepspeed import DeepSpeedPrecision, DeepSpeedPrecisionPlugin
from fastlit.plugins.precision.double import DoublePrecision, DoublePrecisionPlugin
from fastlit.plugins.precision.fsdp import FSDPMixedPrecisionPlugin, FSDPPrecision, FSDPPrecisionPlugin
from fastlit.plugins.precision.half import HalfPrecision, HalfPrecisionPlugin
from fastlit.plugins.precision.precision import Precision, PrecisionPlugin
from fastlit.plugins.precision.transformer_engine import TransformerEnginePrecision, TransformerEnginePrecisionPlugin
from fastlit.plugins.precision.xla import XLAPrecision, XLAPrecisionPlugin

__all__ = ["BitsandbytesPrecision", "DeepSpeedPrecision", "DoublePrecision", "FSDPPrecision", "HalfPrecision",
           "MixedPrecision", "Precision", "TransformerEnginePrecision", "XLAPrecision"]

# names Lightning 2.x keeps only to say they were removed
HPUPrecisionPlugin = placeholder_class(__name__, "HPUPrecisionPlugin", *reason("hpu"), bases=(Precision,))
TPUPrecisionPlugin = placeholder_class(__name__, "TPUPrecisionPlugin", *reason("tpu"), bases=(XLAPrecision,))
TPUBf16PrecisionPlugin = placeholder_class(__name__, "TPUBf16PrecisionPlugin", *reason("tpu"), bases=(XLAPrecision,))
XLABf16PrecisionPlugin = placeholder_class(__name__, "XLABf16PrecisionPlugin", *reason("tpu"), bases=(XLAPrecision,))
