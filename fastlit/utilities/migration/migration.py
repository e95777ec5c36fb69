"""Lightning's per-version checkpoint migrations (all for pre-2.0 files): none in fastlit, see ``utils``."""
from fastlit.callbacks.early_stopping import EarlyStopping  # noqa: F401  (Lightning's module exports these)
from fastlit.callbacks.model_checkpoint import ModelCheckpoint  # noqa: F401
from fastlit.utilities.rank_zero import rank_zero_warn  # noqa: F401
from fastlit.utilities.warnings import PossibleUserWarning  # noqa: F401
