"""``fastlit.trainer``: the Trainer and its loops."""
from fastlit.trainer.trainer import Trainer

__all__ = ["Trainer"]
