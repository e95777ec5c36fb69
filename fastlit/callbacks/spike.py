"""``SpikeDetection``: not in fastlit yet (placeholder)."""
from fastlit._placeholders import placeholder_class
from fastlit.callbacks.callback import Callback

SpikeDetection = placeholder_class(
    __name__, "SpikeDetection", "fastlit has no loss-spike detection callback yet",
    "Watch the loss in on_train_batch_end of your own Callback.", bases=(Callback,))
