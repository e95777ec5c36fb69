"""Lightning's manual-optimization result type: a loop internal, a placeholder in fastlit."""
from fastlit._placeholders import placeholder_class, reason
from fastlit.core.optimizer import do_nothing_closure  # noqa: F401  (Lightning's module exports these)
from fastlit.loops.optimization.closure import OutputResult
from fastlit.utilities.exceptions import MisconfigurationException  # noqa: F401

ManualResult = placeholder_class(__name__, "ManualResult", *reason("loop_internals"), bases=(OutputResult,))
