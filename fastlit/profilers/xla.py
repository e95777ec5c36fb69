"""``XLAProfiler``: not in fastlit (no XLA)."""
import logging

from fastlit._placeholders import placeholder_class, reason
from fastlit.profilers.profiler import Profiler

log = logging.getLogger(__name__)

XLAProfiler = placeholder_class(__name__, "XLAProfiler", *reason("xla"), bases=(Profiler,))
