"""``ModelSummary`` callback: logs the model summary table when ``fit`` starts."""
from __future__ import annotations

import logging
from typing import Any

from fastlit.callbacks.callback import Callback
from fastlit.utilities.model_summary import _format_summary_table, summarize

log = logging.getLogger(__name__)


class ModelSummary(Callback):
    """Logs the table of the LightningModule's layers (name, type, params, mode, FLOPs) at ``on_fit_start``.

    Args:
        max_depth: Depth of submodules to list (``-1`` all, ``0`` turns the summary off).
        **summarize_kwargs: Passed on to ``summarize`` (the static method), for subclasses that print differently.
    """

    def __init__(self, max_depth: int = 1, **summarize_kwargs: Any) -> None:
        self._max_depth: int = max_depth
        self._summarize_kwargs: dict[str, Any] = summarize_kwargs

    def on_fit_start(self, trainer: Any, pl_module: Any) -> None:
        if not self._max_depth:
            return
        # built on every rank (the example forward pass may run collectives); only rank zero prints
        summary = self._summary(trainer, pl_module)
        data = summary._get_summary_data()
        if trainer.is_global_zero:
            self.summarize(data, summary.total_parameters, summary.trainable_parameters, summary.model_size,
                           summary.total_training_modes, total_flops=summary.total_flops, **self._summarize_kwargs)

    def _summary(self, trainer: Any, pl_module: Any) -> Any:
        return summarize(pl_module, max_depth=self._max_depth)

    @staticmethod
    def summarize(
        summary_data: list[tuple[str, list[str]]],
        total_parameters: int,
        trainable_parameters: int,
        model_size: float,
        total_training_modes: dict[str, int],
        total_flops: int,
        **summarize_kwargs: Any,
    ) -> None:
        """Format and log the table; override to print it elsewhere."""
        table = _format_summary_table(total_parameters, trainable_parameters, model_size, total_training_modes,
                                      total_flops, *summary_data)
        log.info("\n" + table)


# Names Lightning's module also exports, imported on first use (see fastlit._reexport).
from fastlit._reexport import lazy_exports  # noqa: E402

__getattr__ = lazy_exports(__name__, {
    "DeepSpeedSummary": "fastlit.utilities.model_summary",
    "Summary": "fastlit.utilities.model_summary:ModelSummary",
})
