"""``ModelPruning``: not in fastlit yet (placeholder)."""
import logging

from fastlit._placeholders import placeholder_class
from fastlit.callbacks.callback import Callback

log = logging.getLogger(__name__)

ModelPruning = placeholder_class(
    __name__, "ModelPruning", "fastlit has no pruning callback yet",
    "Prune with torch.nn.utils.prune from your own Callback (e.g. in on_train_epoch_end).", bases=(Callback,))


# Names Lightning's module also exports, imported on first use (see fastlit._reexport).
from fastlit._reexport import lazy_exports  # noqa: E402

__getattr__ = lazy_exports(__name__, {
    "LightningModule": "fastlit.core.module",
    "MisconfigurationException": "fastlit.utilities.exceptions",
    "apply_to_collection": "fastlit.utilities.apply_func",
    "rank_zero_debug": "fastlit.utilities.rank_zero",
    "rank_zero_only": "fastlit.utilities.rank_zero",
})
