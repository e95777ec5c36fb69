"""Lightning's automatic-optimization closure types: loop internals, placeholders in fastlit."""
from fastlit._placeholders import placeholder_class, reason
from fastlit.loops.optimization.closure import AbstractClosure, OutputResult
from fastlit.utilities.exceptions import MisconfigurationException  # noqa: F401  (Lightning's module exports these)
from fastlit.utilities.rank_zero import WarningCache  # noqa: F401

ClosureResult = placeholder_class(__name__, "ClosureResult", *reason("loop_internals"), bases=(OutputResult,))
Closure = placeholder_class(__name__, "Closure", *reason("loop_internals"), bases=(AbstractClosure,))
