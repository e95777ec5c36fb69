"""Mixed-precision helpers: a GradScaler that folds its checks into fastlit's fused optimizer step."""
from fastlit.amp.grad_scaler import GradScaler

__all__ = ["GradScaler"]
