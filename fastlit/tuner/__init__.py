"""``fastlit.tuner``: batch-size and learning-rate search (``from lightning.pytorch.tuner import Tuner``)."""
from fastlit.tuner.tuning import Tuner

__all__ = ["Tuner"]
