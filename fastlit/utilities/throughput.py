"""Throughput measurement: ``measure_flops`` (torch's FLOP counter), the ``Throughput`` meter that
``ThroughputMonitor`` logs from (Lightning Fabric's keys and rules), and the device peak MFU is taken against.

Lightning looks the peak up in a datasheet table; fastlit measures it on the device at hand with a short GEMM
(``measure_peak_flops``), so MFU is against what this device actually sustains for a large matmul (an upper
bound a model can reach), on any GPU and, when asked, on the CPU.
"""
from __future__ import annotations

import time
from collections import deque
from typing import Callable, Optional, Union

import torch

_THROUGHPUT_METRICS = dict[str, Union[int, float]]


def measure_flops(model: torch.nn.Module, forward_fn: Callable[[], torch.Tensor],
                  loss_fn: Optional[Callable[[torch.Tensor], torch.Tensor]] = None) -> int:
    """FLOPs of ``forward_fn()`` (plus ``loss_fn(output).backward()`` when given). Build the model and inputs on
    the ``meta`` device to count without computing.

    Args:
        model: the module being measured (kept for Lightning's signature; the counter sees every op anyway).
        forward_fn: runs the forward pass and returns its output.
        loss_fn: turns the output into a loss; its backward pass is counted too.
    """
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        out = forward_fn()
        if loss_fn is not None:
            loss_fn(out).backward()
    return counter.get_total_flops()


class _MonotonicWindow(list):
    """The last ``maxlen`` values of a counter that must strictly increase (a user's timer or sample count that
    does not is a bug worth an error, not a silently wrong rate)."""

    def __init__(self, maxlen: int) -> None:
        super().__init__()
        self.maxlen = maxlen

    def append(self, value: float) -> None:
        if self and self[-1] >= value:
            raise ValueError(f"Expected the value to increase, last: {self[-1]}, current: {value}")
        list.append(self, value)
        if len(self) > self.maxlen:
            del self[0]

    def __setitem__(self, key, value) -> None:  # type: ignore[no-untyped-def]
        raise NotImplementedError("__setitem__ is not supported")


class Throughput:
    """Rates over a rolling window of cumulative counters (Lightning Fabric's ``Throughput``: same keys).

    ``compute()`` returns ``time``/``batches``/``samples`` (and ``lengths``) totals always; once the window is
    full, ``device/batches_per_sec``, ``device/samples_per_sec`` (``device/items_per_sec`` with lengths),
    ``device/flops_per_sec`` and ``device/mfu`` (with FLOPs and a known peak); with ``world_size > 1`` also the
    global ``batches_per_sec``, ``samples_per_sec``, ``items_per_sec`` and ``flops_per_sec``.

    Args:
        available_flops: peak FLOP/s of one device (for MFU); None leaves MFU out.
        world_size: number of devices; global rates are the per-device ones times this.
        window_size: updates the rates are averaged over (at least 2: a rate needs two points).
        separator: between ``device`` and the key, and between the stage and the key in ``ThroughputMonitor``.
    """

    def __init__(self, available_flops: Optional[float] = None, world_size: int = 1, window_size: int = 100,
                 separator: str = "/") -> None:
        assert world_size > 0
        assert window_size > 1
        self.available_flops = available_flops
        self.separator = separator
        self.world_size = world_size
        self._time = _MonotonicWindow(window_size)
        self._batches = _MonotonicWindow(window_size)
        self._samples = _MonotonicWindow(window_size)
        self._lengths = _MonotonicWindow(window_size)
        self._flops: deque = deque(maxlen=window_size)

    def update(self, *, time: float, batches: int, samples: int, lengths: Optional[int] = None,
               flops: Optional[int] = None) -> None:
        """Record cumulative ``time`` (s), ``batches``, ``samples`` and ``lengths`` per device, and the ``flops``
        one device spent since the previous update."""
        self._time.append(time)
        if samples < batches:
            raise ValueError(f"Expected samples ({samples}) to be greater or equal than batches ({batches})")
        self._batches.append(batches)
        self._samples.append(samples)
        if lengths is not None:
            if lengths < samples:
                raise ValueError(f"Expected lengths ({lengths}) to be greater or equal than samples ({samples})")
            self._lengths.append(lengths)
            if len(self._samples) != len(self._lengths):
                raise RuntimeError(
                    f"If lengths are passed ({len(self._lengths)}), there needs to be the same number of samples"
                    f" ({len(self._samples)})")
        if flops is not None:
            self._flops.append(flops * self.world_size)  # summed over the ranks

    def compute(self) -> _THROUGHPUT_METRICS:
        """The totals, and the rates once the window is full."""
        sep, many = self.separator, self.world_size > 1
        metrics: _THROUGHPUT_METRICS = {"time": self._time[-1], "batches": self._batches[-1],
                                        "samples": self._samples[-1]}
        if self._lengths:
            metrics["lengths"] = self._lengths[-1]
        full = len(self._time) == self._time.maxlen
        elapsed = self._time[-1] - self._time[0]  # > 0 whenever the window holds two points (monotonic)
        if full:
            batches_rate = (self._batches[-1] - self._batches[0]) / elapsed
            samples_rate = (self._samples[-1] - self._samples[0]) / elapsed
            metrics[f"device{sep}batches_per_sec"] = batches_rate
            metrics[f"device{sep}samples_per_sec"] = samples_rate
            if many:
                metrics["batches_per_sec"] = batches_rate * self.world_size
                metrics["samples_per_sec"] = samples_rate * self.world_size
            if len(self._lengths) == self._lengths.maxlen:
                items_rate = (self._lengths[-1] - self._lengths[0]) / elapsed
                metrics[f"device{sep}items_per_sec"] = items_rate
                if many:
                    metrics["items_per_sec"] = items_rate * self.world_size
        if len(self._flops) == self._flops.maxlen:
            # the first entry's FLOPs were spent before the window's first time point
            flops_rate = (sum(self._flops) - self._flops[0]) / elapsed
            if many:
                metrics["flops_per_sec"] = flops_rate
            device_rate = flops_rate / self.world_size
            metrics[f"device{sep}flops_per_sec"] = device_rate
            if self.available_flops:
                metrics[f"device{sep}mfu"] = device_rate / self.available_flops
        return metrics

    def reset(self) -> None:
        for window in (self._time, self._batches, self._samples, self._lengths, self._flops):
            window.clear()


_PEAKS: dict[tuple[str, torch.dtype], int] = {}


def measure_peak_flops(device: torch.device, dtype: torch.dtype = torch.float32) -> int:
    """FLOP/s this device sustains for a large square matmul in ``dtype``: the best of a few timed GEMMs after a
    warm-up (~0.1-0.5 s once per device and dtype; cached). Timed with ``perf_counter_ns`` and synchronised on
    CUDA, so code that mocks ``time.perf_counter`` is not disturbed."""
    device = torch.device(device)
    key = (str(device), dtype)
    if key not in _PEAKS:
        n = 4096 if device.type == "cuda" else 512
        a = torch.randn(n, n, device=device).to(dtype)
        b = torch.randn(n, n, device=device).to(dtype)
        sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
        torch.mm(a, b)
        sync()
        best = None
        for _ in range(5):
            start = time.perf_counter_ns()
            torch.mm(a, b)
            sync()
            took = time.perf_counter_ns() - start
            best = took if best is None else min(best, took)
        _PEAKS[key] = int(2 * n ** 3 / (max(best, 1) * 1e-9))
    return _PEAKS[key]


def get_available_flops(device: torch.device, dtype: Union[torch.dtype, str]) -> Optional[int]:
    """Peak FLOP/s of ``device`` for ``dtype``, for MFU: measured on a CUDA device (``measure_peak_flops``); None
    on the CPU (as Lightning, which has no CPU peak; ``ThroughputMonitor(measure_flops=True)`` measures it)."""
    device = torch.device(device)
    if device.type != "cuda" or not isinstance(dtype, torch.dtype):
        return None
    return measure_peak_flops(device, dtype)


def precision_to_compute_dtype(precision: str) -> torch.dtype:
    """The dtype matmuls run in under a Trainer precision setting (``"bf16-mixed"`` -> bfloat16, ...)."""
    return {"16-mixed": torch.float16, "16-true": torch.float16, "bf16-mixed": torch.bfloat16,
            "bf16-true": torch.bfloat16, "64-true": torch.float64}.get(precision, torch.float32)
