"""Lightning's import path ``pytorch_lightning.plugins.io.checkpoint_plugin``."""
from fastlit.checkpoint.io import CheckpointIO

__all__ = ["CheckpointIO"]
