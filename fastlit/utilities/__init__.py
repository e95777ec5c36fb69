"""Utilities users import from ``lightning.pytorch.utilities``."""
import torch as _torch

from fastlit.utilities.apply_func import apply_to_collection, move_data_to_device
from fastlit.utilities.combined_loader import CombinedLoader
from fastlit.utilities.data import suggested_max_num_workers
from fastlit.utilities.distributed import is_shared_filesystem
from fastlit.utilities.enums import GradClipAlgorithmType, LightningEnum
from fastlit.utilities.exceptions import MisconfigurationException
from fastlit.utilities.grads import grad_norm
from fastlit.utilities.model_helpers import is_overridden
from fastlit.utilities.parameter_tying import find_shared_parameters, set_shared_parameters
from fastlit.utilities.parsing import AttributeDict, is_picklable
from fastlit.utilities.rank_zero import rank_zero_deprecation, rank_zero_info, rank_zero_only, rank_zero_warn
from fastlit.utilities.seed import seed_everything
from fastlit.utilities.throughput import measure_flops
from fastlit.utilities.warnings import disable_possible_user_warnings

# machine epsilons (Lightning exports them; same values as numpy's finfo)
FLOAT16_EPSILON = _torch.finfo(_torch.float16).eps
FLOAT32_EPSILON = _torch.finfo(_torch.float32).eps
FLOAT64_EPSILON = _torch.finfo(_torch.float64).eps

__all__ = [
    "AttributeDict", "CombinedLoader", "GradClipAlgorithmType", "LightningEnum", "MisconfigurationException",
    "apply_to_collection", "disable_possible_user_warnings", "find_shared_parameters", "grad_norm", "is_overridden",
    "is_picklable", "is_shared_filesystem", "measure_flops", "move_data_to_device", "rank_zero_deprecation",
    "rank_zero_info", "rank_zero_only", "rank_zero_warn", "seed_everything", "set_shared_parameters",
    "suggested_max_num_workers",
]
