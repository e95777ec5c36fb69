"""Fused optimizers (Adam, AdamW, SGD), gradient clipping, and the torch.optim -> fused switch the Trainer uses."""
from fastlit.optim.adam import FusedAdam, FusedAdamW
from fastlit.optim.clip import clip_grad_norm_, clip_grad_value_
from fastlit.optim.convert import to_fused
from fastlit.optim.sgd import FusedSGD

__all__ = ["FusedAdam", "FusedAdamW", "FusedSGD", "clip_grad_norm_", "clip_grad_value_", "to_fused"]
