"""The model summary table (``ModelSummary(model)``, ``summarize(model)``); DeepSpeed's variant is a placeholder."""
from fastlit.utilities.model_summary.model_summary import (  # noqa: F401  (_format_summary_table: the callback's)
    LayerSummary,
    ModelSummary,
    _format_summary_table,
    get_formatted_model_size,
    get_human_readable_count,
    parse_batch_shape,
    summarize,
)
from fastlit.utilities.model_summary.model_summary_deepspeed import DeepSpeedSummary

__all__ = ["DeepSpeedSummary", "LayerSummary", "ModelSummary", "get_formatted_model_size",
           "get_human_readable_count", "parse_batch_shape", "summarize"]
