"""Lightning's import path ``pytorch_lightning.plugins.io.async_plugin``."""
from fastlit.checkpoint.async_io import AsyncCheckpointIO

__all__ = ["AsyncCheckpointIO"]
