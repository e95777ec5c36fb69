"""Checkpoint IO plugins (Lightning's ``pytorch_lightning.plugins.io``)."""
from fastlit.checkpoint.async_io import AsyncCheckpointIO
from fastlit.checkpoint.io import CheckpointIO, TorchCheckpointIO

__all__ = ["AsyncCheckpointIO", "CheckpointIO", "TorchCheckpointIO"]
