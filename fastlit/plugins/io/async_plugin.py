"""Lightning's import path ``pytorch_lightning.plugins.io.async_plugin``."""
from fastlit.checkpoint.async_io import AsyncCheckpointIO
from fastlit.utilities.apply_func import apply_to_collection  # noqa: F401  (Lightning's module exports it)

__all__ = ["AsyncCheckpointIO"]
