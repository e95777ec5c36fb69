"""Interleaved timing: run every variant once per round (A B C, A B C, ...) so machine noise hits all alike."""
from __future__ import annotations

import statistics
from typing import Callable


def interleave(variants: dict[str, Callable[[], float]], repeats: int, warmup: int = 1) -> dict[str, list[float]]:
    """Call each variant ``warmup + repeats`` times in rounds; each call returns its own measurement.

    Returns the ``repeats`` measurements per variant (warm-up rounds dropped).
    """
    out: dict[str, list[float]] = {name: [] for name in variants}
    for r in range(warmup + repeats):
        for name, fn in variants.items():
            value = fn()
            if r >= warmup:
                out[name].append(value)
    return out


def summarize(samples: list[float]) -> dict[str, float]:
    """Median and spread (min, max, relative IQR-ish half range) of one variant's samples."""
    med = statistics.median(samples)
    lo, hi = min(samples), max(samples)
    return {"median": med, "min": lo, "max": hi, "spread": (hi - lo) / med if med else 0.0, "n": len(samples)}


def cuda_seconds(fn: Callable[[], object]) -> tuple[float, object]:
    """Run ``fn`` between two CUDA events (GPU idle before, synchronized after); (seconds, fn's result)."""
    import torch

    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    torch.cuda.synchronize()
    start.record()
    result = fn()
    end.record()
    torch.cuda.synchronize()
    return start.elapsed_time(end) / 1e3, result
