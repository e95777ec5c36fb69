"""Checkpoint files: format, durable writes and loading."""
from fastlit.checkpoint.io import CheckpointIO, TorchCheckpointIO, atomic_save, load

__all__ = ["CheckpointIO", "TorchCheckpointIO", "atomic_save", "load"]
