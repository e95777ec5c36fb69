"""Moving (nested) batches between devices."""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any, Callable, Union

import torch
from torch import Tensor


def apply_to_collection(data: Any, dtype: Union[type, tuple], function: Callable, *args: Any, **kwargs: Any) -> Any:
    """Apply ``function`` to every element of type ``dtype`` inside nested lists/tuples/dicts/dataclasses."""
    if isinstance(data, dtype):
        return function(data, *args, **kwargs)
    if isinstance(data, Mapping):
        return type(data)({k: apply_to_collection(v, dtype, function, *args, **kwargs) for k, v in data.items()}) \
            if type(data) is not dict else {k: apply_to_collection(v, dtype, function, *args, **kwargs) for k, v in data.items()}
    if isinstance(data, tuple) and hasattr(data, "_fields"):  # namedtuple
        return type(data)(*(apply_to_collection(d, dtype, function, *args, **kwargs) for d in data))
    if isinstance(data, (list, tuple)):
        return type(data)(apply_to_collection(d, dtype, function, *args, **kwargs) for d in data)
    if dataclasses.is_dataclass(data) and not isinstance(data, type):
        fields = {f.name: apply_to_collection(getattr(data, f.name), dtype, function, *args, **kwargs)
                  for f in dataclasses.fields(data) if f.init}
        return dataclasses.replace(data, **fields)
    return data


def _to(t: Any, device: torch.device) -> Any:
    # non_blocking only helps host->accelerator copies from pinned memory; it is a no-op otherwise.
    return t.to(device, non_blocking=device.type != "cpu")


def move_data_to_device(batch: Any, device: Union[str, torch.device]) -> Any:
    """Move every tensor (or object with ``.to``) in ``batch`` to ``device``; leave everything else alone."""
    device = torch.device(device)
    if isinstance(batch, Tensor):
        return batch if batch.device == device else _to(batch, device)
    # The common batch shapes take a short path without the generic recursion.
    if type(batch) in (tuple, list) and all(type(b) is Tensor for b in batch):
        if all(b.device == device for b in batch):
            return batch
        return type(batch)(_to(b, device) for b in batch)
    return apply_to_collection(batch, Tensor, lambda t: t if t.device == device else _to(t, device))


def convert_tensors_to_scalars(data: Any) -> Any:
    """Replace one-element tensors with python numbers (a host sync per tensor: call only when emitting)."""

    def to_item(value: Tensor) -> Union[int, float, bool]:
        if value.numel() != 1:
            raise ValueError(f"The metric `{value}` does not contain a single element, thus it cannot be converted to a scalar.")
        return value.item()

    return apply_to_collection(data, Tensor, to_item)


def convert_to_tensors(data: Any, device: Union[str, torch.device]) -> Any:
    """Numbers, bools and numpy arrays inside ``data`` as tensors on ``device`` (bool as uint8, int as int32,
    float as float32: dtypes every collective backend reduces); tensors are moved there too."""
    def scalar(dtype: torch.dtype) -> Callable:
        return lambda x: torch.tensor(x, dtype=dtype, device=device)

    # bool before int: bool is an int subclass, and torch.bool does not reduce under NCCL
    data = apply_to_collection(data, bool, scalar(torch.uint8))
    data = apply_to_collection(data, int, scalar(torch.int))
    data = apply_to_collection(data, float, scalar(torch.float))
    try:
        import numpy as np

        data = apply_to_collection(data, np.ndarray, lambda a: torch.from_numpy(a).to(device))
    except ImportError:
        pass
    return move_data_to_device(data, device)


def convert_tensors_to_scalars(data: Any) -> Any:
    """Every one-element tensor inside ``data`` as a Python number.

    Raises:
        ValueError: a tensor has more than one element.
    """
    def item(t: Tensor) -> Union[int, float, bool]:
        if t.numel() != 1:
            raise ValueError(f"The metric `{t}` does not contain a single element, thus it cannot be converted to a "
                             "scalar.")
        return t.item()

    return apply_to_collection(data, Tensor, item)
