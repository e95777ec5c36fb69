"""Checkpoint IO plugins (Lightning's ``pytorch_lightning.plugins.io``)."""
from fastlit._placeholders import placeholder_class, reason
from fastlit.checkpoint.async_io import AsyncCheckpointIO
from fastlit.checkpoint.io import CheckpointIO, TorchCheckpointIO
from fastlit.plugins.io.xla_plugin import XLACheckpointIO

__all__ = ["AsyncCheckpointIO", "CheckpointIO", "TorchCheckpointIO", "XLACheckpointIO"]

# Lightning keeps this name only to say HPU support moved out
HPUCheckpointIO = placeholder_class(__name__, "HPUCheckpointIO", *reason("hpu"), bases=(TorchCheckpointIO,))
