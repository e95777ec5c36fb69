"""Lightning's per-version checkpoint migrations (all for pre-2.0 files): none in fastlit, see ``utils``."""
from fastlit.utilities.rank_zero import rank_zero_warn  # noqa: F401  (Lightning's module exports these)
from fastlit.utilities.warnings import PossibleUserWarning  # noqa: F401

# Lightning's module also exports the two callbacks; they sit above the utilities, so they are imported on first
# use (see fastlit._reexport).
from fastlit._reexport import lazy_exports  # noqa: E402

__getattr__ = lazy_exports(__name__, {"EarlyStopping": "fastlit.callbacks.early_stopping",
                                      "ModelCheckpoint": "fastlit.callbacks.model_checkpoint"})
