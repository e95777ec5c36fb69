"""``RichProgressBar``: fastlit has no rich progress bar yet (placeholder); ``RichProgressBarTheme`` is the plain
dataclass of styles, so code that builds a theme still runs."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Union

from fastlit._placeholders import placeholder_class
from fastlit.callbacks.progress.progress_bar import ProgressBar
from fastlit.utilities.apply_func import apply_to_collection  # noqa: F401  (Lightning's module exports it)


@dataclass
class RichProgressBarTheme:
    """Styles (rich style strings) of the parts of a rich progress bar."""

    description: Union[str, Any] = ""
    progress_bar: Union[str, Any] = "#6206E0"
    progress_bar_finished: Union[str, Any] = "#6206E0"
    progress_bar_pulse: Union[str, Any] = "#6206E0"
    batch_progress: Union[str, Any] = ""
    time: Union[str, Any] = "dim"
    processing_speed: Union[str, Any] = "dim underline"
    metrics: Union[str, Any] = "italic"
    metrics_text_delimiter: str = " "
    metrics_format: str = ".3f"


RichProgressBar = placeholder_class(
    __name__, "RichProgressBar", "fastlit has no rich progress bar yet",
    "Use the default TQDMProgressBar (fastlit.callbacks.TQDMProgressBar), or Trainer(enable_progress_bar=False).",
    bases=(ProgressBar,))
