"""The model summary table (``ModelSummary(model)``, ``summarize(model)``), in Lightning 2.x's exact format.

::

      | Name | Type       | Params | Mode  | FLOPs | In sizes  | Out sizes
    ----------------------------------------------------------------------------
    0 | net  | Sequential | 132 K  | train | 2.6 M | [10, 256] | [10, 512]
    ----------------------------------------------------------------------------
    132 K     Trainable params
    ...

FLOPs and In/Out sizes are only known when the module has an ``example_input_array`` (run once, in eval mode,
under ``torch.no_grad``); otherwise FLOPs are 0 and the size columns are absent.
"""
from __future__ import annotations

import contextlib
import logging
import math
from collections import OrderedDict
from typing import Any, Optional, Union

import torch
from torch import Tensor, nn

from fastlit.utilities.rank_zero import WarningCache, rank_zero_warn

log = logging.getLogger(__name__)
warning_cache = WarningCache()

PARAMETER_NUM_UNITS = [" ", "K", "M", "B", "T"]
UNKNOWN_SIZE = "?"
LEFTOVER_PARAMS_NAME = "other params"
NOT_APPLICABLE = "n/a"
_PRECISION_BITS = {"64": 64, "32": 32, "16": 16, "bf16": 16, "16-true": 16, "bf16-true": 16, "32-true": 32,
                   "64-true": 64}


def _numel(p: Tensor) -> int:
    """Parameter count; lazy (uninitialized) parameters count 0, with a one-time warning."""
    if isinstance(p, nn.parameter.UninitializedParameter):
        warning_cache.warn(
            "The total number of parameters detected may be inaccurate because the model contains an instance of"
            " `UninitializedParameter`. To get an accurate number, set `self.example_input_array` in your"
            " LightningModule."
        )
        return 0
    return p.numel()


def parse_batch_shape(batch: Any) -> Union[str, list]:
    """Shape of a tensor as a list, nested lists for lists/tuples of tensors, ``"?"`` for anything else."""
    if hasattr(batch, "shape"):
        return list(batch.shape)
    if isinstance(batch, (list, tuple)):
        return [parse_batch_shape(item) for item in batch]
    return UNKNOWN_SIZE


class LayerSummary:
    """Type, parameter count, mode and (after a forward pass) input/output shapes of one submodule.

    Args:
        module: The module to summarize. A forward hook records the shapes of its first call, then removes itself.
    """

    def __init__(self, module: nn.Module) -> None:
        self._module = module
        self._in_size: Optional[Union[str, list]] = None
        self._out_size: Optional[Union[str, list]] = None
        self._hook_handle = None
        if not isinstance(module, torch.jit.ScriptModule):
            self._hook_handle = module.register_forward_hook(self._hook, with_kwargs=True)

    def _hook(self, _: nn.Module, args: tuple, kwargs: dict, out: Any) -> None:
        inputs = (*args, *kwargs.values()) if kwargs else args
        self._in_size = parse_batch_shape(inputs[0] if len(inputs) == 1 else inputs)
        self._out_size = parse_batch_shape(out)
        self.detach_hook()

    def __del__(self) -> None:
        self.detach_hook()

    def detach_hook(self) -> None:
        """Remove the forward hook (if it has not removed itself yet)."""
        if self._hook_handle is not None:
            self._hook_handle.remove()
            self._hook_handle = None

    @property
    def in_size(self) -> Union[str, list]:
        return self._in_size or UNKNOWN_SIZE

    @property
    def out_size(self) -> Union[str, list]:
        return self._out_size or UNKNOWN_SIZE

    @property
    def layer_type(self) -> str:
        return type(self._module).__name__

    @property
    def num_parameters(self) -> int:
        return sum(_numel(p) for p in self._module.parameters())

    @property
    def training(self) -> bool:
        return self._module.training


class ModelSummary:
    """Summary of a module's submodules: the table printed at the start of ``fit``.

    Args:
        model: The (Lightning) module to summarize.
        max_depth: Depth of submodules to list: ``1`` the direct children, ``-1`` all of them, ``0`` none.
    """

    def __init__(self, model: nn.Module, max_depth: int = 1) -> None:
        if not isinstance(max_depth, int) or max_depth < -1:
            raise ValueError(f"`max_depth` can be -1, 0 or > 0, got {max_depth}.")
        from torch.utils.flop_counter import FlopCounterMode  # lazy: only needed when a summary is made

        self._model = model
        self._max_depth = max_depth
        # the root module is depth 0 for the counter, hence + 1
        self._flop_counter = FlopCounterMode(display=False, depth=max_depth + 1)
        self._layer_summary = self.summarize()
        trainer = getattr(model, "_trainer", None)
        precision = str(getattr(trainer, "precision", "32-true")) if trainer is not None else "32-true"
        if precision not in _PRECISION_BITS:
            rank_zero_warn(f"Precision {precision} is not supported by the model summary. "
                           " Estimated model size in MB will not be accurate. Using 32 bits instead.")
        self._precision_megabytes = _PRECISION_BITS.get(precision, 32) / 8.0 * 1e-6

    @property
    def named_modules(self) -> list[tuple[str, nn.Module]]:
        if self._max_depth == 0:
            return []
        if self._max_depth == 1:
            return list(self._model.named_children())
        return list(self._model.named_modules())[1:]  # without the root

    @property
    def layer_names(self) -> list[str]:
        return list(self._layer_summary)

    @property
    def layer_types(self) -> list[str]:
        return [layer.layer_type for layer in self._layer_summary.values()]

    @property
    def in_sizes(self) -> list:
        return [layer.in_size for layer in self._layer_summary.values()]

    @property
    def out_sizes(self) -> list:
        return [layer.out_size for layer in self._layer_summary.values()]

    @property
    def param_nums(self) -> list[int]:
        return [layer.num_parameters for layer in self._layer_summary.values()]

    @property
    def training_modes(self) -> list[bool]:
        return [layer.training for layer in self._layer_summary.values()]

    @property
    def total_training_modes(self) -> dict[str, int]:
        modes = [m.training for m in self._model.modules()][1:]  # without the root
        return {"train": modes.count(True), "eval": modes.count(False)}

    @property
    def total_parameters(self) -> int:
        return sum(_numel(p) for p in self._model.parameters())

    @property
    def trainable_parameters(self) -> int:
        return sum(_numel(p) for p in self._model.parameters() if p.requires_grad)

    @property
    def total_layer_params(self) -> int:
        return sum(self.param_nums)

    @property
    def model_size(self) -> float:
        """Estimated parameter size in MB at the Trainer's precision (32 bit without a Trainer)."""
        return self.total_parameters * self._precision_megabytes

    @property
    def total_flops(self) -> int:
        return self._flop_counter.get_total_flops()

    @property
    def flop_counts(self) -> dict[str, dict[Any, int]]:
        counts = self._flop_counter.get_flop_counts()
        prefix = type(self._model).__name__
        return {name: counts.get(f"{prefix}.{name}", {}) for name in self.layer_names}

    def summarize(self) -> dict[str, LayerSummary]:
        summary = OrderedDict((name, LayerSummary(module)) for name, module in self.named_modules)
        if getattr(self._model, "example_input_array", None) is not None:
            self._forward_example_input()
        for layer in summary.values():
            layer.detach_hook()
        if self._max_depth >= 1:
            for name in [n for n in summary if n.count(".") >= self._max_depth]:
                del summary[name]
        return summary

    def _forward_example_input(self) -> None:
        """Run ``example_input_array`` through the model once to record shapes and FLOPs."""
        model = self._model
        trainer = getattr(model, "_trainer", None)
        batch = model.example_input_array
        device = getattr(model, "device", None)
        if hasattr(model, "transfer_batch_to_device") and device is not None:
            batch = model.on_before_batch_transfer(batch, 0) if hasattr(model, "on_before_batch_transfer") else batch
            batch = model.transfer_batch_to_device(batch, device, 0)
            batch = model.on_after_batch_transfer(batch, 0) if hasattr(model, "on_after_batch_transfer") else batch
        plugin = getattr(trainer, "precision_plugin", None)
        if hasattr(plugin, "convert_input"):  # e.g. "bf16-true": the module's weights are bf16 already
            batch = plugin.convert_input(batch)
        if hasattr(plugin, "forward_context"):
            forward_context = plugin.forward_context()
        elif hasattr(plugin, "autocast"):
            forward_context = plugin.autocast()
        else:
            forward_context = contextlib.nullcontext()
        modes = {m: m.training for m in model.modules()}
        model.eval()
        try:
            with torch.no_grad(), forward_context, self._flop_counter:
                if isinstance(batch, (list, tuple)):
                    model(*batch)
                elif isinstance(batch, dict):
                    model(**batch)
                else:
                    model(batch)
        finally:
            for module, training in modes.items():
                module.training = training

    def _get_summary_data(self) -> list[tuple[str, list[str]]]:
        """The table's columns as ``(header, cells)`` pairs."""
        n = len(self._layer_summary)
        columns = [
            (" ", [str(i) for i in range(n)]),
            ("Name", self.layer_names),
            ("Type", self.layer_types),
            ("Params", [get_human_readable_count(x) for x in self.param_nums]),
            ("Mode", ["train" if mode else "eval" for mode in self.training_modes]),
            ("FLOPs", [get_human_readable_count(sum(c.values())) for c in self.flop_counts.values()]),
        ]
        with_sizes = getattr(self._model, "example_input_array", None) is not None
        if with_sizes:
            columns += [("In sizes", [str(x) for x in self.in_sizes]), ("Out sizes", [str(x) for x in self.out_sizes])]
        leftover = self.total_parameters - self.total_layer_params
        if leftover > 0:  # parameters owned directly by the root (or shared oddly): one extra row
            extra = [" ", LEFTOVER_PARAMS_NAME, NOT_APPLICABLE, get_human_readable_count(leftover), NOT_APPLICABLE,
                     NOT_APPLICABLE] + [NOT_APPLICABLE] * (2 if with_sizes else 0)
            for (_, cells), cell in zip(columns, extra):
                cells.append(cell)
        return columns

    def __str__(self) -> str:
        return _format_summary_table(self.total_parameters, self.trainable_parameters, self.model_size,
                                     self.total_training_modes, self.total_flops, *self._get_summary_data())

    def __repr__(self) -> str:
        return str(self)


def _format_summary_table(
    total_parameters: int,
    trainable_parameters: int,
    model_size: float,
    total_training_modes: dict[str, int],
    total_flops: int,
    *cols: tuple[str, list[str]],
) -> str:
    """Lay the columns out as the bordered table followed by the totals lines."""
    n_rows = len(cols[0][1])
    widths = [max([len(header)] + [len(str(cell)) for cell in cells]) for header, cells in cols]
    total_width = sum(widths) + 3 * (len(cols) + 1)
    rule = "-" * total_width
    lines = [" | ".join(f"{header:<{w}}" for (header, _), w in zip(cols, widths)), rule]
    for i in range(n_rows):
        lines.append(" | ".join(f"{str(cells[i]):<{w}}" for (_, cells), w in zip(cols, widths)))
    lines.append(rule)
    totals = [
        (get_human_readable_count(trainable_parameters), "Trainable params"),
        (get_human_readable_count(total_parameters - trainable_parameters), "Non-trainable params"),
        (get_human_readable_count(total_parameters), "Total params"),
        (get_formatted_model_size(model_size), "Total estimated model params size (MB)"),
        (total_training_modes["train"], "Modules in train mode"),
        (total_training_modes["eval"], "Modules in eval mode"),
        (get_human_readable_count(total_flops), "Total Flops"),
    ]
    lines += [f"{value:<10}{label}" for value, label in totals]
    return "\n".join(lines)


def get_formatted_model_size(total_model_size: float) -> str:
    return f"{total_model_size:,.3f}"


def get_human_readable_count(number: Union[int, float]) -> str:
    """``123 -> '123  '``, ``1234 -> '1.2 K'``, ``2e6 -> '2.0 M'``, ``4e14 -> '400 T'``, ``5e15 -> '5,000 T'``."""
    assert number >= 0
    digits = int(math.floor(math.log10(number)) + 1) if number > 0 else 1
    groups = min(int(math.ceil(digits / 3)), len(PARAMETER_NUM_UNITS))  # nothing beyond trillions
    index = groups - 1
    scaled = number * 10 ** (-3 * index)
    if index < 1 or scaled >= 100:
        return f"{int(scaled):,d} {PARAMETER_NUM_UNITS[index]}"
    return f"{scaled:,.1f} {PARAMETER_NUM_UNITS[index]}"


def summarize(lightning_module: nn.Module, max_depth: int = 1) -> ModelSummary:
    """Summarize ``lightning_module`` down to ``max_depth`` (see ``ModelSummary``)."""
    return ModelSummary(lightning_module, max_depth=max_depth)
