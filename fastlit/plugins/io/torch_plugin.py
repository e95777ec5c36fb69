"""Lightning's import path ``pytorch_lightning.plugins.io.torch_plugin``."""
from fastlit.checkpoint.io import TorchCheckpointIO

__all__ = ["TorchCheckpointIO"]
