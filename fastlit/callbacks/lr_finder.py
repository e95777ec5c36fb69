"""``LearningRateFinder``: run an LR range test when ``fit`` starts and train with the suggested LR."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional

from fastlit.callbacks.callback import Callback
from fastlit.tuner.lr_finder import lr_find
from fastlit.utilities.exceptions import _TunerExitException
from fastlit.utilities.seed import isolate_rng

if TYPE_CHECKING:
    from fastlit.tuner.lr_finder import _LRFinder


class LearningRateFinder(Callback):
    """At ``on_fit_start``, train ``num_training_steps`` steps with a growing LR, restore the model, and (by
    default) set the suggested LR on the model and the optimizer.

    Args:
        min_lr: first LR tried.
        max_lr: last LR tried.
        num_training_steps: number of LRs (steps) tried.
        mode: ``"exponential"`` (default) or ``"linear"`` growth.
        early_stop_threshold: stop once the loss exceeds this multiple of the best loss; None never stops.
        update_attr: set the suggestion on the model's ``lr``/``learning_rate`` attribute (or ``attr_name``).
        attr_name: the attribute holding the LR when it is not ``lr``/``learning_rate``.

    Raises:
        ValueError: ``mode`` is neither ``"linear"`` nor ``"exponential"``.
        MisconfigurationException: the model has more than one optimizer.

    The result (``results``, ``suggestion()``, ``plot()``) is ``optimal_lr``. The range test does not change the
    random state the real training then sees. Call ``self.lr_find(trainer, pl_module)`` from another hook of a
    subclass to search again later (e.g. at fine-tuning milestones).
    """

    SUPPORTED_MODES = ("linear", "exponential")

    def __init__(self, min_lr: float = 1e-8, max_lr: float = 1, num_training_steps: int = 100,
                 mode: str = "exponential", early_stop_threshold: Optional[float] = 4.0, update_attr: bool = True,
                 attr_name: str = "") -> None:
        mode = mode.lower()
        if mode not in self.SUPPORTED_MODES:
            raise ValueError(f"`mode` should be either of {self.SUPPORTED_MODES}")
        self._min_lr = min_lr
        self._max_lr = max_lr
        self._num_training_steps = num_training_steps
        self._mode = mode
        self._early_stop_threshold = early_stop_threshold
        self._update_attr = update_attr
        self._attr_name = attr_name
        self._early_exit = False
        self.optimal_lr: Optional[_LRFinder] = None

    def lr_find(self, trainer: Any, pl_module: Any) -> None:
        """Run the range test now; store the result in ``optimal_lr``."""
        with isolate_rng():
            self.optimal_lr = lr_find(trainer, pl_module, min_lr=self._min_lr, max_lr=self._max_lr,
                                      num_training=self._num_training_steps, mode=self._mode,
                                      early_stop_threshold=self._early_stop_threshold,
                                      update_attr=self._update_attr, attr_name=self._attr_name)
        if self._early_exit:
            raise _TunerExitException()

    def on_fit_start(self, trainer: Any, pl_module: Any) -> None:
        self.lr_find(trainer, pl_module)
