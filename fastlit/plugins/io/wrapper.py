"""Lightning's checkpoint-IO wrapper base is private; the module path exists (its public name is CheckpointIO)."""
from fastlit.plugins.io.checkpoint_plugin import CheckpointIO  # noqa: F401
