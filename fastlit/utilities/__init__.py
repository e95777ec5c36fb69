"""Utilities users import from ``lightning.pytorch.utilities``."""
from fastlit.utilities.apply_func import apply_to_collection, move_data_to_device
from fastlit.utilities.exceptions import MisconfigurationException
from fastlit.utilities.model_helpers import is_overridden
from fastlit.utilities.parsing import AttributeDict
from fastlit.utilities.rank_zero import rank_zero_deprecation, rank_zero_info, rank_zero_only, rank_zero_warn
from fastlit.utilities.seed import seed_everything

__all__ = [
    "AttributeDict", "MisconfigurationException", "apply_to_collection", "is_overridden", "move_data_to_device",
    "rank_zero_deprecation", "rank_zero_info", "rank_zero_only", "rank_zero_warn", "seed_everything",
]
