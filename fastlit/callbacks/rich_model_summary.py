"""``RichModelSummary``: the ``ModelSummary`` table drawn as a rich table on the rich console.

``rich`` is imported when the callback is created and when it prints, never with ``fastlit``.
"""
from __future__ import annotations

from typing import Any

from fastlit.callbacks.model_summary import ModelSummary
from fastlit.utilities.imports import _RICH_AVAILABLE
from fastlit.utilities.model_summary import get_formatted_model_size, get_human_readable_count

# Columns Lightning shows only when the summary has them (DeepSpeed's per-device counts, example-input sizes).
_RIGHT_ALIGNED_OPTIONAL = ("In sizes", "Out sizes")


def _missing_rich(requirement: str) -> ModuleNotFoundError:
    """Lightning raises ``ModuleNotFoundError`` with this first sentence when rich is missing; ours names the extra.
    ``requirement`` is the rest of that sentence, e.g. "`RichProgressBar` requires `rich` >= 10.2.2"."""
    return ModuleNotFoundError(f"{requirement}. Install it by running `pip install 'fastlit[rich]'`"
                               " (or `pip install -U rich`).")


class RichModelSummary(ModelSummary):
    """The model summary (name, type, params, mode, FLOPs per layer, then the totals) as a rich table.

    Args:
        max_depth: Depth of submodules to list (``-1`` all, ``0`` turns the summary off).
        **summarize_kwargs: Passed on to ``summarize``; ``header_style`` (default ``"bold magenta"``) styles the
            table header.

    Raises:
        ModuleNotFoundError: If ``rich`` is not installed (``pip install 'fastlit[rich]'``).
    """

    def __init__(self, max_depth: int = 1, **summarize_kwargs: Any) -> None:
        if not _RICH_AVAILABLE:  # a module attribute, so tests can pretend rich is missing
            raise _missing_rich("`RichModelSummary` requires `rich` to be installed")
        super().__init__(max_depth, **summarize_kwargs)

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
        """Print the layer table, then the totals grid, on rich's global console."""
        from rich import get_console
        from rich.table import Table

        columns = dict(summary_data)
        table = Table(header_style=summarize_kwargs.get("header_style", "bold magenta"))
        table.add_column(" ", style="dim")  # the row index column
        table.add_column("Name", justify="left", no_wrap=True)
        table.add_column("Type")
        table.add_column("Params", justify="right")
        if "Params per Device" in columns:
            table.add_column("Params per Device", justify="right")
        table.add_column("Mode")
        table.add_column("FLOPs", justify="right")
        for name in _RIGHT_ALIGNED_OPTIONAL:
            if name in columns:
                table.add_column(name, justify="right", style="white")
        # summary_data is column-major (name, values); the table wants rows
        for row in zip(*(values for _, values in summary_data)):
            table.add_row(*row)

        console = get_console()
        console.print(table)

        def padded(text: str) -> str:
            return f"{text:<10}"

        non_trainable = total_parameters - trainable_parameters
        totals = Table.grid(expand=True)
        totals.add_column()
        totals.add_column()
        for label, value in (
            ("Trainable params", padded(get_human_readable_count(int(trainable_parameters)))),
            ("Non-trainable params", padded(get_human_readable_count(int(non_trainable)))),
            ("Total params", padded(get_human_readable_count(int(total_parameters)))),
            ("Total estimated model params size (MB)", padded(get_formatted_model_size(model_size))),
            ("Modules in train mode", total_training_modes["train"]),
            ("Modules in eval mode", total_training_modes["eval"]),
            ("Total FLOPs", get_human_readable_count(total_flops)),
        ):
            totals.add_row(f"[bold]{label}[/]: {value}")
        console.print(totals)
