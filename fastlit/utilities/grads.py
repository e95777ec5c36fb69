"""``grad_norm``: per-parameter and total gradient norms, ready to ``self.log_dict``."""
from __future__ import annotations

from typing import Union

import torch
from torch import Tensor
from torch.nn import Module


def grad_norm(module: Module, norm_type: Union[float, int, str], group_separator: str = "/") -> dict[str, Tensor]:
    """The p-norm of each parameter's gradient (``"grad_2.0_norm/layer.weight"``) and of all of them together as
    one vector (``"grad_2.0_norm_total"``); parameters without a gradient are left out.

    Args:
        module: the module whose gradients to measure (after ``backward``).
        norm_type: p, a positive number or ``"inf"``.
        group_separator: between the norm's name and the parameter's, so loggers group them.
    """
    norm_type = float(norm_type)
    if norm_type <= 0:
        raise ValueError(f"`norm_type` must be a positive number or 'inf' (infinity norm). Got {norm_type}")
    norms = {f"grad_{norm_type}_norm{group_separator}{name}": p.grad.data.norm(norm_type)
             for name, p in module.named_parameters() if p.grad is not None}
    if norms:
        # the norm of the per-parameter norms equals the norm of all gradients concatenated (for any p)
        norms[f"grad_{norm_type}_norm_total"] = torch.tensor(list(norms.values())).norm(norm_type)
    return norms
