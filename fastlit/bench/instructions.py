"""Instruction and memory-traffic counts under callgrind: the part of the perf gate that noise cannot move.

Wall time on a shared 2-core VM wanders by +-10% from run to run and differs between CPU models; the number of
instructions a step executes does not. ``valgrind --tool=callgrind`` counts them exactly, and its virtual CPU
(AVX2, no AVX-512) is the same on every host, so torch and fastlit take the same kernel paths on an AMD or an
Intel machine; its cache simulation (with a fixed geometry, CACHE_SIM) counts the cache lines that go to and from
memory, which is what a memory-bound kernel's time follows. Each figure is a same-run ratio (fastlit / its
baseline): the training loop against the hand-written loop, each fused kernel against torch's best equivalent.

How one run works: ``measure()`` starts one Python process under callgrind with instrumentation off (so the
imports run at ~5x slowdown instead of ~60x), and that process (``python -m fastlit.bench.instructions``) runs
every case. A case sets up uncounted, then switches instrumentation on, runs its region (a window of training
steps, or a few optimizer steps), dumps the counters under the case's name and switches it off again. The switches
are callgrind's client requests, in a five-line C helper compiled on first use with the system C compiler (it
needs ``valgrind/callgrind.h``, which the valgrind package installs).
"""
from __future__ import annotations

import argparse
import ctypes
import gc
import glob
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from typing import Any, Callable, Iterator, Optional

CASES = ("loop.plain", "loop.fastlit_off", "loop.fastlit", "kernels.adam_ae.torch", "kernels.adam_ae.fastlit",
         "kernels.adamw.torch", "kernels.adamw.fastlit", "kernels.sgd_momentum.torch", "kernels.sgd_momentum.fastlit",
         "kernels.scale_clip_adamw.torch", "kernels.scale_clip_adamw.fastlit")  # in the order the worker runs them
# The gate's keys, each a ratio (lower is better) of numerator case / denominator case. ``instr.*`` count the
# instructions executed (Ir); ``mem.*`` count the cache lines the simulated last-level cache had to fetch from or
# write back to memory (DLmr + DLmw): the kernels are memory-bound, so an extra pass over the parameters costs
# time mostly through these, and a vectorized pass adds few instructions. (The loop's and the autoencoder's data
# fit in the simulated cache: their memory figures say nothing, so they have no mem key.)
RATIOS = {
    "instr.loop.fastlit_off": ("loop.fastlit_off", "loop.plain"),
    "instr.loop.fastlit": ("loop.fastlit", "loop.plain"),
    "instr.kernels.adam_ae": ("kernels.adam_ae.fastlit", "kernels.adam_ae.torch"),
    "instr.kernels.adamw": ("kernels.adamw.fastlit", "kernels.adamw.torch"),
    "instr.kernels.scale_clip_adamw": ("kernels.scale_clip_adamw.fastlit", "kernels.scale_clip_adamw.torch"),
    "instr.kernels.sgd_momentum": ("kernels.sgd_momentum.fastlit", "kernels.sgd_momentum.torch"),
    "mem.kernels.adamw": ("kernels.adamw.fastlit", "kernels.adamw.torch"),
    "mem.kernels.sgd_momentum": ("kernels.sgd_momentum.fastlit", "kernels.sgd_momentum.torch"),
}
# No mem key for scale+clip+adamw: its region also restores the gradients between steps, and those copies' cache
# hits shift with the memory layout (seen: 3.7% between two trees that differ only in unrelated modules).
# Counts are exact for a given tree, but a change elsewhere moves objects in memory, and that moves some counts a
# little (torch's fused SGD step: up to 4.6% between trees; the others under 1%): the gate allows +8%.
# Cache geometry given explicitly (valgrind otherwise copies the host's), so the memory counts are the same on
# every machine. The LL is smaller than the 16 MB a 1 M-parameter Adam state needs: every pass reaches memory.
CACHE_SIM = ["--cache-sim=yes", "--I1=32768,8,64", "--D1=32768,8,64", "--LL=8388608,16,64"]
WARMUP_STEPS, WINDOW_STEPS, LOG_EVERY = 5, 10, 5  # the window holds exactly two log emissions
KERNEL_STEPS, AE_KERNEL_STEPS = 3, 10  # the autoencoder's 101 k parameters take ~0.2 M instructions a step
BIG_PARAMS = 1_000_000  # 200 uneven tensors; enough to dwarf per-call overhead, small enough for callgrind

_HELPER_C = r"""
#include <valgrind/callgrind.h>
void fastlit_cg_start(void) { CALLGRIND_START_INSTRUMENTATION; CALLGRIND_ZERO_STATS; }
void fastlit_cg_dump(const char *name) { CALLGRIND_DUMP_STATS_AT(name); }
void fastlit_cg_stop(void) { CALLGRIND_STOP_INSTRUMENTATION; }
"""


class Unavailable(RuntimeError):
    """valgrind, its headers or a C compiler is missing; the message says what to install."""


def _helper_library() -> str:
    """Path of the compiled client-request helper, built once per source into a cache directory."""
    header = "/usr/include/valgrind/callgrind.h"
    cc = shutil.which("cc") or shutil.which("gcc")
    if not os.path.exists(header) or cc is None:
        raise Unavailable(f"instruction counts need valgrind's headers ({header}) and a C compiler: "
                          "apt-get install valgrind gcc (or run the gate with --no-instructions)")
    digest = hashlib.sha1(_HELPER_C.encode()).hexdigest()[:12]
    cache = os.path.join(os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "fastlit")
    lib = os.path.join(cache, f"callgrind-{digest}.so")
    if not os.path.exists(lib):
        os.makedirs(cache, exist_ok=True)
        with tempfile.TemporaryDirectory() as tmp:
            src = os.path.join(tmp, "cg.c")
            with open(src, "w") as f:
                f.write(_HELPER_C)
            built = os.path.join(tmp, "cg.so")
            subprocess.run([cc, "-O2", "-shared", "-fPIC", src, "-o", built], check=True, capture_output=True)
            os.replace(built, lib)  # atomic: a concurrent gate never loads a half-written file
    return lib


class _Marks:
    """The three client requests, as Python calls (no-ops cost nothing outside valgrind either)."""

    def __init__(self, lib: str) -> None:
        self._lib = ctypes.CDLL(lib)

    def start(self) -> None:
        # A cyclic-GC pass over torch's ~10^5 objects costs more than a whole kernel case, and when it falls
        # depends on every allocation since start-up: collect now, freeze the survivors, keep it off inside.
        gc.collect()
        gc.freeze()
        gc.disable()
        self._lib.fastlit_cg_start()

    def dump(self, name: str) -> None:
        self._lib.fastlit_cg_dump(name.encode())
        self._lib.fastlit_cg_stop()
        gc.enable()


class _Window:
    """Wraps a loader: instrumentation on when batch ``warmup`` is fetched, dumped when batch ``warmup+window`` is.

    The region is therefore exactly ``window`` whole training steps in the steady state (data fetch included), the
    same for the hand-written loop and for a Trainer, with no hook added to either.
    """

    def __init__(self, loader: Any, marks: _Marks, name: str, warmup: int, window: int) -> None:
        self.loader, self.marks, self.name, self.warmup, self.window = loader, marks, name, warmup, window

    def __len__(self) -> int:
        return self.warmup + self.window + 1

    def __iter__(self) -> Iterator[Any]:
        for i, batch in enumerate(self.loader):
            if i == self.warmup:
                self.marks.start()
            elif i == self.warmup + self.window:
                self.marks.dump(self.name)
            yield batch
            if i + 1 == len(self):
                return


def _loop_cases(marks: _Marks, root: str) -> None:
    import torch
    import torch.nn.functional as F

    import fastlit
    from fastlit.bench import workloads
    from fastlit.bench.worker import VARIANTS

    window = lambda name: _Window(workloads.loader(), marks, name, WARMUP_STEPS, WINDOW_STEPS)  # noqa: E731
    encoder, decoder = workloads.networks(0)
    model = torch.nn.Sequential(encoder, decoder)
    opt = torch.optim.Adam(model.parameters(), lr=workloads.LR)
    for x, _y in window("loop.plain"):  # the same hand-written loop as workloads.plain_autoencoder
        x = x.view(x.size(0), -1)
        loss = F.mse_loss(model(x), x)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    # The progress bar redraws on a wall-clock timer, so it is off in both variants; logs are emitted every
    # LOG_EVERY steps so that the short window (callgrind runs ~50x slower) still pays for emitting them.
    for case, variant in (("loop.fastlit_off", "off"), ("loop.fastlit", "defaults")):
        kwargs = dict(VARIANTS[variant], enable_progress_bar=False, max_epochs=1, accelerator="cpu", devices=1,
                      default_root_dir=os.path.join(root, case), log_every_n_steps=LOG_EVERY)
        trainer = fastlit.Trainer(**kwargs)
        trainer.fit(workloads.build(fastlit)(), window(case))


def _kernel_cases(marks: _Marks) -> None:
    import torch

    import fastlit.optim as fo
    from fastlit.bench.kernels import AE_SHAPES, _params, amp_clip_step, big_shapes

    big = big_shapes(BIG_PARAMS)

    def steps(name: str, step: Callable[[], None], reset: Optional[Callable[[], None]] = None) -> None:
        step()  # state (moments, momentum buffers) exists from here on
        marks.start()
        for _ in range(AE_KERNEL_STEPS if "_ae." in name else KERNEL_STEPS):
            if reset is not None:
                reset()
            step()
        marks.dump(name)

    for key, shapes, make in (
        ("kernels.adam_ae.torch", AE_SHAPES, lambda ps: torch.optim.Adam(ps, lr=1e-3, fused=True)),
        ("kernels.adam_ae.fastlit", AE_SHAPES, lambda ps: fo.FusedAdam(ps, lr=1e-3)),
        ("kernels.adamw.torch", big, lambda ps: torch.optim.AdamW(ps, lr=1e-3, fused=True)),
        ("kernels.adamw.fastlit", big, lambda ps: fo.FusedAdamW(ps, lr=1e-3)),
        ("kernels.sgd_momentum.torch", big, lambda ps: torch.optim.SGD(ps, lr=1e-3, momentum=0.9, fused=True)),
        ("kernels.sgd_momentum.fastlit", big, lambda ps: fo.FusedSGD(ps, lr=1e-3, momentum=0.9)),
    ):
        steps(key, make(_params(shapes)).step)
    for fused in (False, True):  # fastlit.bench.kernels.amp_clip_case's sequence; gradients restored each step
        step, reset = amp_clip_step(big, fused)
        steps(f"kernels.scale_clip_adamw.{'fastlit' if fused else 'torch'}", step, reset)


def _worker(lib: str) -> None:
    """Runs inside valgrind: every case, each dumping its own counters."""
    import logging
    import warnings

    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    logging.disable(logging.INFO)
    try:  # restored after: the worker also runs in-process (tests), where these settings must not leak
        with warnings.catch_warnings(), tempfile.TemporaryDirectory() as root:
            warnings.simplefilter("ignore")
            marks = _Marks(lib)
            _loop_cases(marks, root)
            _kernel_cases(marks)
    finally:
        logging.disable(logging.NOTSET)
        torch.set_num_threads(threads)


def parse_dumps(out_prefix: str) -> dict[str, dict[str, int]]:
    """{case name: {"Ir": instructions, "LL": last-level data misses}} from the dump files ``<prefix>.N`` that the
    client requests wrote (the final dump at program exit is not a case and is left out)."""
    counts: dict[str, dict[str, int]] = {}
    for path in glob.glob(out_prefix + ".*"):
        with open(path) as f:
            text = f.read()
        name = re.search(r"^desc: Trigger: Client Request: (.+)$", text, re.M)
        events = re.search(r"^events: (.+)$", text, re.M)
        total = re.search(r"^(?:totals|summary): ([\d ]+)$", text, re.M)
        if name and events and total:
            values = dict(zip(events.group(1).split(), map(int, total.group(1).split())))
            counts[name.group(1).strip()] = {"Ir": values["Ir"],
                                             "LL": values.get("DLmr", 0) + values.get("DLmw", 0)}
    return counts


def measure(timeout: float = 900.0) -> dict[str, Any]:
    """Run every case under callgrind once: {"counts": {case: {"Ir": n, "LL": n}}, "ratios": {key: ratio}}."""
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        raise Unavailable("instruction counts need valgrind: apt-get install valgrind "
                          "(or run the gate with --no-instructions)")
    lib = _helper_library()
    env = dict(os.environ, PYTHONHASHSEED="0", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    with tempfile.TemporaryDirectory() as tmp:
        prefix = os.path.join(tmp, "cg.out")
        cmd = [valgrind, "--tool=callgrind", "--instr-atstart=no", *CACHE_SIM, f"--callgrind-out-file={prefix}",
               sys.executable, "-m", "fastlit.bench.instructions", "--worker", lib]
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"callgrind run failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
        counts = parse_dumps(prefix)
    return {"counts": counts, "ratios": ratios(counts)}


def ratios(counts: dict[str, dict[str, int]]) -> dict[str, float]:
    """The gate's ratios; NaN where a case is missing, so the gate fails on it instead of skipping it."""
    out = {}
    for key, (num, den) in RATIOS.items():
        event = "Ir" if key.startswith("instr.") else "LL"
        a, b = counts.get(num, {}).get(event), counts.get(den, {}).get(event)
        out[key] = a / b if a and b else float("nan")
    return out


def main(argv: Optional[list[str]] = None) -> int:
    p = argparse.ArgumentParser(description="internal: the process fastlit.bench.instructions runs under callgrind")
    p.add_argument("--worker", metavar="HELPER.so", required=True)
    _worker(p.parse_args(argv).worker)
    return 0


if __name__ == "__main__":
    sys.exit(main())
