"""Lightning's ``strategies.launchers.multiprocessing`` path (its launcher is private; fastlit re-runs the script per
rank instead of spawning)."""
from fastlit._reexport import lazy_exports

# the names Lightning's module exports, imported on first use
__getattr__ = lazy_exports(__name__, {
    "CPUAccelerator": "fastlit.accelerators.cpu",
    "TrainerFn": "fastlit.trainer.states",
    "TrainerState": "fastlit.trainer.states",
    "apply_to_collection": "fastlit.utilities.apply_func",
    "log": "@logger",
    "move_data_to_device": "fastlit.utilities.apply_func",
    "rank_zero_debug": "fastlit.utilities.rank_zero",
})
