"""Lightning's optimizer-closure base types: loop internals, placeholders in fastlit."""
from typing import TypeVar

from fastlit._placeholders import placeholder_class, reason
from fastlit.utilities.exceptions import MisconfigurationException  # noqa: F401  (Lightning's module exports it)

T = TypeVar("T")

OutputResult = placeholder_class(__name__, "OutputResult", *reason("loop_internals"))
AbstractClosure = placeholder_class(__name__, "AbstractClosure", *reason("loop_internals"))
