"""``XLACheckpointIO``: not in fastlit (no XLA)."""
from fastlit._placeholders import placeholder_class, reason
from fastlit.plugins.io.torch_plugin import TorchCheckpointIO

XLACheckpointIO = placeholder_class(__name__, "XLACheckpointIO", *reason("xla"), bases=(TorchCheckpointIO,))
