"""The ``loop`` suite: per-step cost of the seed autoencoder under a plain loop, fastlit and Lightning."""
from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
import warnings
from typing import Any, Callable

import torch

import fastlit
from fastlit.bench import timing, workloads
from fastlit.bench.worker import time_fit

LABELS = {
    "plain": "plain PyTorch loop",
    "fastlit_off": "fastlit (bar/logger/ckpt/summary off)",
    "fastlit": "fastlit (defaults)",
    "lightning_off": "pytorch_lightning (same features off)",
    "lightning": "pytorch_lightning (defaults)",
}


@contextlib.contextmanager
def _quiet() -> Any:
    """Progress bars and info lines still render (their cost counts), but into a null stream."""
    logger = logging.getLogger("fastlit")
    level = logger.level
    logger.setLevel(logging.WARNING)
    with open(os.devnull, "w") as null, contextlib.redirect_stderr(null), contextlib.redirect_stdout(io.StringIO()), \
            warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            yield
        finally:
            logger.setLevel(level)


def _plain() -> float:
    t0 = time.perf_counter()
    steps, _ = workloads.plain_loop()
    return (time.perf_counter() - t0) / steps


def _fastlit(variant: str, root: str) -> Callable[[], float]:
    def run() -> float:
        with _quiet():
            r = time_fit(fastlit, variant, root)
        return r["seconds"] / r["steps"]

    return run


def _external(framework: str, variant: str, threads: int) -> Callable[[], float]:
    def run() -> float:
        cmd = [sys.executable, "-m", "fastlit.bench.worker", "--framework", framework, "--variant", variant,
               "--threads", str(threads)]
        out = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if out.returncode != 0:
            raise RuntimeError(f"{framework} run failed:\n{out.stderr[-2000:]}")
        r = json.loads(out.stdout.strip().splitlines()[-1])
        return r["seconds"] / r["steps"]

    return run


def run(threads: int = 1, repeats: int = 5, lightning: bool = True) -> dict[str, Any]:
    """Time every variant interleaved; return rows with median ms/step and the ratio to the plain loop."""
    prev_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with tempfile.TemporaryDirectory() as root:
            variants: dict[str, Callable[[], float]] = {
                "plain": _plain,
                "fastlit_off": _fastlit("off", os.path.join(root, "off")),
                "fastlit": _fastlit("defaults", os.path.join(root, "defaults")),
            }
            have_pl = lightning and importlib.util.find_spec("pytorch_lightning") is not None
            if have_pl:
                variants["lightning_off"] = _external("pytorch_lightning", "off", threads)
                variants["lightning"] = _external("pytorch_lightning", "defaults", threads)
            # external variants warm up inside their own process
            samples = timing.interleave(variants, repeats=repeats, warmup=1 if repeats > 1 else 0)
    finally:
        torch.set_num_threads(prev_threads)
    base = timing.summarize(samples["plain"])["median"]
    rows = []
    for name, values in samples.items():
        s = timing.summarize(values)
        rows.append({"variant": name, "label": LABELS[name], "ms_per_step": s["median"] * 1e3,
                     "spread": s["spread"], "n": s["n"], "ratio_vs_plain": s["median"] / base})
    n_params = sum(p.numel() for m in workloads.networks() for p in m.parameters())
    return {
        "workload": f"seed autoencoder (784-64-3-64-784, {n_params:,} params), Adam lr {workloads.LR}, "
                    f"{workloads.N_SAMPLES}x784 synthetic, batch {workloads.BATCH}, {workloads.EPOCHS} epochs",
        "threads": threads, "repeats": repeats, "rows": rows,
        "ratios": {f"loop.{r['variant']}": r["ratio_vs_plain"] for r in rows if r["variant"] != "plain"},
    }


def format_table(result: dict[str, Any]) -> str:
    lines = [f"loop: {result['workload']}",
             f"      CPU, {result['threads']} thread(s), {result['repeats']} interleaved repeats, median",
             f"  {'variant':<40}{'ms/step':>10}{'spread':>9}{'vs plain':>10}"]
    for r in result["rows"]:
        lines.append(f"  {r['label']:<40}{r['ms_per_step']:>10.3f}{r['spread'] * 100:>8.1f}%{r['ratio_vs_plain']:>9.2f}x")
    return "\n".join(lines)
