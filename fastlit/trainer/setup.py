"""Lightning's ``trainer.setup`` path (its setup helpers are private; fastlit's Trainer sets itself up)."""
from fastlit._reexport import lazy_exports

# the names Lightning's module exports, imported on first use
__getattr__ = lazy_exports(__name__, {
    "AdvancedProfiler": "fastlit.profilers.advanced",
    "CUDAAccelerator": "fastlit.accelerators.cuda",
    "DummyLogger": "fastlit.loggers.logger",
    "MPSAccelerator": "fastlit.accelerators.mps",
    "MisconfigurationException": "fastlit.utilities.exceptions",
    "PassThroughProfiler": "fastlit.profilers.base",
    "PossibleUserWarning": "fastlit.utilities.warnings",
    "Profiler": "fastlit.profilers.profiler",
    "PyTorchProfiler": "fastlit.profilers.pytorch",
    "SimpleProfiler": "fastlit.profilers.simple",
    "XLAAccelerator": "fastlit.accelerators.xla",
    "XLAProfiler": "fastlit.profilers.xla",
    "rank_zero_info": "fastlit.utilities.rank_zero",
    "rank_zero_warn": "fastlit.utilities.rank_zero",
})
