"""Kernel benchmarks: fastlit's fused optimizer steps against torch's best equivalents, as same-run ratios.

Workloads (issue 3): the seed autoencoder's 101 k params in 8 tensors, and 8 M params in 200 tensors. Every
case reports ms per step and effective GB/s (the bytes the operation must move at minimum, divided by the
time) next to a plain copy's GB/s measured in the same run, which is the memory floor on this machine.

Run: `fastlit bench kernels [--threads N] [--repeats N] [--quick] [--json PATH]`, or through pytest-benchmark
(benchmarks/kernels/test_kernels.py, which calls these same functions). Variants are timed interleaved (fastlit.bench.timing.interleave) so
machine noise hits them alike.
"""
from __future__ import annotations

import statistics
import time
from typing import Callable, Dict, List, Tuple

import torch

import fastlit.amp
import fastlit.optim as fo
from fastlit.bench.timing import interleave

AE_SHAPES = [(64, 784), (64,), (3, 64), (3,), (64, 3), (64,), (784, 64), (784,)]
F32 = 4


def big_shapes(total: int = 8_000_000, count: int = 200) -> List[Tuple[int]]:
    """`count` 1-d tensors of uneven sizes summing to `total` elements."""
    weights = [1 + (i * 37) % 11 for i in range(count)]
    sizes = [total * w // sum(weights) for w in weights]
    sizes[-1] += total - sum(sizes)
    return [(s,) for s in sizes]


def _params(shapes, seed=0) -> List[torch.nn.Parameter]:
    g = torch.Generator().manual_seed(seed)
    ps = [torch.nn.Parameter(torch.randn(s, generator=g)) for s in shapes]
    for p in ps:
        p.grad = torch.randn(p.shape, generator=g)
    return ps


class Case:
    """One benchmarked operation: a timing function per variant (seconds per step) and its minimal bytes."""

    def __init__(self, name: str, nbytes: int, baseline: str):
        self.name, self.nbytes, self.baseline = name, nbytes, baseline
        self.variants: Dict[str, Callable[[], float]] = {}


def _timed(fn: Callable[[], None], steps: int, setup: Callable[[], None] = None) -> Callable[[], float]:
    """Seconds per step over ``steps`` steps; ``setup`` (untimed) runs before every step."""
    def run() -> float:
        if setup is None:
            t0 = time.perf_counter()
            for _ in range(steps):
                fn()
            return (time.perf_counter() - t0) / steps
        total = 0.0
        for _ in range(steps):
            setup()
            t0 = time.perf_counter()
            fn()
            total += time.perf_counter() - t0
        return total / steps
    run.step, run.setup = fn, setup  # one untimed-setup + one step, for pytest-benchmark
    return run


def adam_case(shapes, name: str, steps: int) -> Case:
    n = sum(torch.Size(s).numel() for s in shapes)
    case = Case(name, 28 * n, baseline="torch fused")  # read p, g, m, v; write p, m, v (fp32)
    for label, make in [
        ("torch default", lambda ps: torch.optim.Adam(ps, lr=1e-3)),
        ("torch foreach", lambda ps: torch.optim.Adam(ps, lr=1e-3, foreach=True)),
        ("torch fused", lambda ps: torch.optim.Adam(ps, lr=1e-3, fused=True)),
        ("fastlit", lambda ps: fo.FusedAdam(ps, lr=1e-3)),
    ]:
        opt = make(_params(shapes))
        case.variants[label] = _timed(opt.step, steps)
    return case


def sgd_case(shapes, name: str, steps: int) -> Case:
    n = sum(torch.Size(s).numel() for s in shapes)
    case = Case(name, 20 * n, baseline="torch fused")  # read p, g, buf; write p, buf
    for label, make in [
        ("torch foreach", lambda ps: torch.optim.SGD(ps, lr=1e-3, momentum=0.9, foreach=True)),
        ("torch fused", lambda ps: torch.optim.SGD(ps, lr=1e-3, momentum=0.9, fused=True)),
        ("fastlit", lambda ps: fo.FusedSGD(ps, lr=1e-3, momentum=0.9)),
    ]:
        opt = make(_params(shapes))
        opt.step()  # momentum buffers exist from here on
        case.variants[label] = _timed(opt.step, steps)
    return case


def amp_clip_step(shapes, fused: bool) -> Tuple[Callable[[], None], Callable[[], None]]:
    """(step, reset) of amp_clip_case's sequence: torch's best (``fused=False``) or fastlit's; ``reset`` restores
    the scaled gradients, which torch's path unscales in place."""
    params = _params(shapes)
    source = [p.grad.clone() * 1024 for p in params]
    grads = [p.grad for p in params]
    if fused:
        opt, scaler = fo.FusedAdamW(params, lr=1e-3, max_grad_norm=1.0), fastlit.amp.GradScaler("cpu", 1024.0)
    else:
        opt, scaler = torch.optim.AdamW(params, lr=1e-3, fused=True), torch.amp.GradScaler("cpu", 1024.0)

    def reset() -> None:
        torch._foreach_copy_(grads, source)

    def step() -> None:
        scaler.scale(torch.ones(()))
        if not fused:
            scaler.unscale_(opt)
            torch.nn.utils.clip_grad_norm_(params, 1.0, foreach=True)
        scaler.step(opt)
        scaler.update()
    return step, reset


def amp_clip_case(shapes, name: str, steps: int) -> Case:
    """Mixed precision with clipping: unscale + non-finite check + clip_grad_norm_ + AdamW.

    torch's best sequence: GradScaler.unscale_ (foreach check-and-unscale), clip_grad_norm_(foreach=True),
    GradScaler.step with AdamW(fused=True). fastlit: its GradScaler with FusedAdamW(max_grad_norm): one norm +
    check pass and one update pass. Gradients are restored (untimed) before every step: torch's path
    unscales them in place.
    """
    n = sum(torch.Size(s).numel() for s in shapes)
    case = Case(name, 32 * n, baseline="torch fused seq")  # norm pass (read g) + update (28 B)

    def variant(fused: bool):
        step, reset = amp_clip_step(shapes, fused)
        return _timed(step, steps, setup=reset)

    case.variants["torch fused seq"] = variant(False)
    case.variants["fastlit"] = variant(True)
    return case


def copy_case(n: int, name: str, steps: int) -> Case:
    src, dst = torch.randn(n), torch.empty(n)
    case = Case(name, 2 * F32 * n, baseline="copy")
    case.variants["copy"] = _timed(lambda: dst.copy_(src), steps)
    return case


def all_cases(quick: bool = False, scale: int = 1) -> List[Case]:
    """Every case; ``scale`` multiplies the steps per timed sample (20 for the autoencoder, 1 for the big ones)."""
    big = big_shapes(2_000_000 if quick else 8_000_000)
    big_n = sum(s[0] for s in big)
    ae_n = sum(torch.Size(s).numel() for s in AE_SHAPES)
    return [
        copy_case(4 * ae_n, "copy (AE adam bytes)", 20 * scale),
        adam_case(AE_SHAPES, "adam, autoencoder 101k", 20 * scale),
        copy_case(big_n * 7 // 2, f"copy ({big_n / 1e6:.0f}M adam bytes)", scale),
        adam_case(big, f"adam, {big_n / 1e6:.0f}M params / 200 tensors", scale),
        amp_clip_case(big, f"scale+clip+adamw, {big_n / 1e6:.0f}M", scale),
        sgd_case(big, f"sgd momentum, {big_n / 1e6:.0f}M", scale),
    ]


def measure(cases: List[Case], repeats: int, stat: Callable[[List[float]], float] = statistics.median) -> List[dict]:
    """Rows of {case, variant, ms, GB/s, ratio (baseline time / variant time)}; each case interleaved, each
    variant summarized by ``stat`` (the median; the gate takes the minimum: noise only ever adds time)."""
    rows = []
    for case in cases:
        samples = interleave(case.variants, repeats)
        med = {k: stat(v) for k, v in samples.items()}
        for variant, t in med.items():
            rows.append({"case": case.name, "variant": variant, "ms": t * 1e3, "GB/s": case.nbytes / t / 1e9,
                         "speedup_vs_" + case.baseline.replace(" ", "_"): med[case.baseline] / t})
    return rows


def run(threads: int = 1, repeats: int = 15, quick: bool = False, scale: int = 1,
        stat: Callable[[List[float]], float] = statistics.median) -> dict:
    """The suite for `fastlit bench kernels`: rows, plus time ratios (fastlit / baseline; lower is better)."""
    prev = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        rows = measure(all_cases(quick, scale), repeats, stat)
    finally:
        torch.set_num_threads(prev)
    ratios = {}
    for r in rows:
        if r["variant"] == "fastlit":
            speedup = next(v for k, v in r.items() if k.startswith("speedup_vs_"))
            slug = r["case"].split(",")[0].replace(" ", "_").replace("+", "_")
            ratios[f"kernels.{slug}{'_ae' if 'autoencoder' in r['case'] else ''}"] = 1.0 / speedup
    return {"threads": threads, "cpu_kernels": fastlit._ext.cpu_capability(), "rows": rows, "ratios": ratios}


def format_table(result: dict) -> str:
    lines = [f"kernels: threads={result['threads']}, cpu kernels={result['cpu_kernels']}, interleaved, median",
             f"  {'case':36s} {'variant':18s} {'ms':>9s} {'GB/s':>7s}  speedup vs baseline"]
    for r in result["rows"]:
        ratio = next(v for k, v in r.items() if k.startswith("speedup_vs_"))
        lines.append(f"  {r['case']:36s} {r['variant']:18s} {r['ms']:9.3f} {r['GB/s']:7.1f}  x{ratio:.2f}")
    return "\n".join(lines)
