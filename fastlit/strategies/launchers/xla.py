"""Lightning's ``strategies.launchers.xla`` path (no XLA in fastlit)."""
from fastlit._reexport import lazy_exports

# the names Lightning's module exports, imported on first use
__getattr__ = lazy_exports(__name__, {
    "TrainerFn": "fastlit.trainer.states",
    "move_data_to_device": "fastlit.utilities.apply_func",
    "rank_zero_debug": "fastlit.utilities.rank_zero",
})
