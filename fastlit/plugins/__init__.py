"""Lightning's ``pytorch_lightning.plugins`` names that fastlit implements: the checkpoint IO plugins."""
from fastlit.plugins.io import AsyncCheckpointIO, CheckpointIO, TorchCheckpointIO

__all__ = ["AsyncCheckpointIO", "CheckpointIO", "TorchCheckpointIO"]
