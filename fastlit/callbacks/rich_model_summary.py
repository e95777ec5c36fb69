"""``RichModelSummary``: fastlit has no rich-formatted summary yet (placeholder; ``ModelSummary`` prints the same
table as plain text)."""
from fastlit._placeholders import placeholder_class
from fastlit.callbacks.model_summary import ModelSummary
from fastlit.utilities.model_summary import get_formatted_model_size, get_human_readable_count  # noqa: F401

RichModelSummary = placeholder_class(
    __name__, "RichModelSummary", "fastlit has no rich-formatted model summary yet",
    "Use fastlit.callbacks.ModelSummary (the same table as plain text; it is on by default).", bases=(ModelSummary,))
