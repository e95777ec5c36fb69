"""The ``loop`` suite: per-step cost of each workload under a plain loop, fastlit and Lightning, interleaved."""
from __future__ import annotations

import contextlib
import importlib.util
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
import warnings
from typing import Any, Callable, Optional

import torch

import fastlit
from fastlit.bench import timing, workloads
from fastlit.bench.worker import time_fit
from fastlit.bench.workloads import Workload

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
    with open(os.devnull, "w") as null, contextlib.redirect_stderr(null), contextlib.redirect_stdout(null), \
            warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            yield
        finally:
            logger.setLevel(level)


def _plain(workload: Workload, device: str) -> Callable[[], float]:
    def run() -> float:
        with _quiet():
            if device == "cuda":
                seconds, steps = timing.cuda_seconds(lambda: workloads.plain_loop(workload, device))
                return seconds / steps
            t0 = time.perf_counter()
            steps = workloads.plain_loop(workload, device)
            return (time.perf_counter() - t0) / steps

    return run


def _fastlit(variant: str, root: str, workload: Workload, device: str) -> Callable[[], float]:
    def run() -> float:
        with _quiet():
            r = time_fit(fastlit, variant, root, workload, device)
        return r["seconds"] / r["steps"]

    return run


def _external(framework: str, variant: str, threads: int, workload_args: list[str], device: str) -> Callable[[], float]:
    def run() -> float:
        cmd = [sys.executable, "-m", "fastlit.bench.worker", "--framework", framework, "--variant", variant,
               "--threads", str(threads), "--device", device] + workload_args
        out = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if out.returncode != 0:
            raise RuntimeError(f"{framework} run failed:\n{out.stderr[-2000:]}")
        r = json.loads(out.stdout.strip().splitlines()[-1])
        return r["seconds"] / r["steps"]

    return run


def run_workload(workload: Workload, threads: int = 1, repeats: int = 5, lightning: bool = True,
                 device: str = "cpu", workload_args: Optional[list[str]] = None,
                 stat: str = "median") -> dict[str, Any]:
    """Time every variant of one workload interleaved; rows carry median ms/step and the ratio to the plain loop
    of each variant's ``stat`` ("median", or "min": the gate's, as noise only ever adds time)."""
    prev_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with tempfile.TemporaryDirectory() as root:
            variants: dict[str, Callable[[], float]] = {
                "plain": _plain(workload, device),
                "fastlit_off": _fastlit("off", os.path.join(root, "off"), workload, device),
                "fastlit": _fastlit("defaults", os.path.join(root, "defaults"), workload, device),
            }
            if lightning and importlib.util.find_spec("pytorch_lightning") is not None:
                wargs = workload_args if workload_args is not None else ["--workload", workload.name]
                variants["lightning_off"] = _external("pytorch_lightning", "off", threads, wargs, device)
                variants["lightning"] = _external("pytorch_lightning", "defaults", threads, wargs, device)
            samples = timing.interleave(variants, repeats=repeats, warmup=1 if repeats > 1 else 0)
    finally:
        torch.set_num_threads(prev_threads)
    base = timing.summarize(samples["plain"])[stat]
    rows = []
    for name, values in samples.items():
        s = timing.summarize(values)
        rows.append({"variant": name, "label": LABELS[name], "ms_per_step": s["median"] * 1e3,
                     "spread": s["spread"], "n": s["n"], "ratio_vs_plain": s[stat] / base})
    return {"workload": workload.name, "description": f"{workload.description}, {workload.epochs} epochs",
            "threads": threads, "repeats": repeats, "device": device, "rows": rows}


def run(threads: int = 1, repeats: int = 5, lightning: bool = True, names: tuple[str, ...] = ("autoencoder",),
        device: str = "cpu", user: Optional[tuple[Workload, list[str]]] = None, stat: str = "median") -> dict[str, Any]:
    """The suite: the named built-in workloads (and a user's module), each interleaved on its own."""
    results = [run_workload(workloads.WORKLOADS[n], threads, repeats, lightning, device, stat=stat) for n in names]
    if user is not None:
        results.append(run_workload(user[0], threads, repeats, lightning, device, user[1]))
    ratios = {}
    for res in results:
        prefix = "loop." if res["workload"] == "autoencoder" else f"loop.{res['workload']}."
        ratios.update({prefix + r["variant"]: r["ratio_vs_plain"] for r in res["rows"] if r["variant"] != "plain"})
    return {"workloads": results, "ratios": ratios}


def format_table(result: dict[str, Any]) -> str:
    lines = []
    for res in result["workloads"]:
        lines += [f"loop [{res['workload']}]: {res['description']}",
                  f"      {res['device']}, {res['threads']} thread(s), {res['repeats']} interleaved repeats, median",
                  f"  {'variant':<40}{'ms/step':>10}{'spread':>9}{'vs plain':>10}"]
        for r in res["rows"]:
            lines.append(f"  {r['label']:<40}{r['ms_per_step']:>10.3f}{r['spread'] * 100:>8.1f}%"
                         f"{r['ratio_vs_plain']:>9.2f}x")
    return "\n".join(lines)
