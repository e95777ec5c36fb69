"""Precision plugin objects (``Trainer(plugins=[MixedPrecision(...)])``): fastlit takes the precision as
``Trainer(precision=...)`` instead, so these are placeholders that say so."""
from fastlit._placeholders import placeholder_class, reason
from fastlit.core.hooks import CheckpointHooks  # noqa: F401  (Lightning's module exports these)
from fastlit.utilities.enums import GradClipAlgorithmType  # noqa: F401
from fastlit.utilities.types import Steppable  # noqa: F401

Precision = placeholder_class(__name__, "Precision", *reason("precision_plugin"),
                              doc="Lightning's base class of precision plugins.")
# Lightning 1.x's name
PrecisionPlugin = placeholder_class(__name__, "PrecisionPlugin", *reason("precision_plugin"), bases=(Precision,))
