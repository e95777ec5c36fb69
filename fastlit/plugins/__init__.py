"""Lightning's ``pytorch_lightning.plugins`` names. fastlit implements the checkpoint IO plugins (the Trainer
accepts them in ``plugins=``) and ``TorchSyncBatchNorm``; precision plugins are placeholders (fastlit takes
``Trainer(precision=...)``), as are the XLA/HPU/TPU ones."""
from fastlit.plugins.environments import ClusterEnvironment  # noqa: F401
from fastlit.plugins.io import (AsyncCheckpointIO, CheckpointIO, HPUCheckpointIO,  # noqa: F401
                                TorchCheckpointIO, XLACheckpointIO)
from fastlit.plugins.layer_sync import LayerSync, TorchSyncBatchNorm
from fastlit.plugins.precision import (  # noqa: F401  (the *Plugin names: Lightning 1.x's, still exported)
    BitsandbytesPrecision,
    BitsandbytesPrecisionPlugin,
    DeepSpeedPrecision,
    DeepSpeedPrecisionPlugin,
    DoublePrecision,
    DoublePrecisionPlugin,
    FSDPMixedPrecisionPlugin,
    FSDPPrecision,
    FSDPPrecisionPlugin,
    HalfPrecision,
    HalfPrecisionPlugin,
    HPUPrecisionPlugin,
    MixedPrecision,
    MixedPrecisionPlugin,
    Precision,
    PrecisionPlugin,
    TPUBf16PrecisionPlugin,
    TPUPrecisionPlugin,
    TransformerEnginePrecision,
    TransformerEnginePrecisionPlugin,
    XLABf16PrecisionPlugin,
    XLAPrecision,
    XLAPrecisionPlugin,
)

__all__ = [
    "AsyncCheckpointIO", "BitsandbytesPrecision", "CheckpointIO", "DeepSpeedPrecision", "DoublePrecision",
    "FSDPPrecision", "HalfPrecision", "LayerSync", "MixedPrecision", "Precision", "TorchCheckpointIO",
    "TorchSyncBatchNorm", "TransformerEnginePrecision", "XLACheckpointIO", "XLAPrecision",
]
