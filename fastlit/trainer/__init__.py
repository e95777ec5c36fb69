"""``fastlit.trainer``: the Trainer and its loops."""
from fastlit.trainer.trainer import Trainer

__all__ = ["Trainer"]


# Names Lightning's module also exports, imported on first use (see fastlit._reexport).
from fastlit._reexport import lazy_exports  # noqa: E402

__getattr__ = lazy_exports(__name__, {
    "seed_everything": "fastlit.utilities.seed",
})
