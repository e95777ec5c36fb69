"""``fastlit bench gate``: the performance regression gate, one command for CI (ours and a user's).

Two kinds of figure, both same-run ratios (fastlit / baseline variant; lower is better):

* **Instruction and memory-line counts** (``instr.*``, ``mem.*``; fastlit.bench.instructions): exact for a
  tree and the same on every host, so the tolerance is tight (default 8%; unrelated changes move a few counts by
  up to ~5% through the memory layout). They catch extra work in the loop or in a kernel: an extra pass over the
  parameters, a per-step Python detour. One callgrind run, about two minutes on 2 cores.
* **Wall time** (``loop.*``, ``kernels.*``): what users feel, including what instructions cannot see (sleeps,
  syscalls, cache-hostile memory access). Noisy on shared machines and different per CPU model, so the baseline
  holds one set of ratios per CPU model, a key that looks worse is re-measured before it counts (its best attempt
  counts: noise only ever adds time), and a CPU model without a baseline is held to the worst known ratio per key
  with twice the tolerance, with a printed warning.

A key that the baseline names but the run did not produce, or that came out NaN/inf, fails the gate: a gate must
never pass by checking nothing. Exit status: 0 no regression, 1 regression, 2 bad baseline or setup.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any, Callable

WALL_KEYS = ("loop.fastlit_off", "loop.fastlit", "kernels.adam_ae", "kernels.adam", "kernels.scale_clip_adamw",
             "kernels.sgd_momentum")
WALL_TOLERANCE, INSTR_TOLERANCE = 0.25, 0.08
UNKNOWN_CPU_FACTOR = 2.0  # tolerance multiplier when this CPU model has no wall-time baseline of its own
WALL_ATTEMPTS = 3  # a wall key over its limit is measured up to this many times in all
GATE_REPEATS, GATE_KERNEL_SCALE = 5, 10  # kernel samples: 200 autoencoder steps, 10 big ones


def compare(current: dict[str, float], baseline: dict[str, float], tolerance: float) -> list[str]:
    """One line per baseline key that regressed beyond ``tolerance``, is missing, or is not a finite number."""
    failures = []
    for key, base in baseline.items():
        value = current.get(key)
        if value is None:
            failures.append(f"{key}: not measured (the baseline names it; was a case renamed or dropped?)")
        elif not math.isfinite(value):
            failures.append(f"{key}: measured {value} (not a finite number)")
        elif value > base * (1 + tolerance):
            failures.append(f"{key}: {value:.3f} vs baseline {base:.3f} (+{(value / base - 1) * 100:.1f}%, "
                            f"limit +{tolerance:.0%})")
    return failures


def wall_baseline(baseline: dict[str, Any], cpu: str, tolerance: float) -> tuple[dict[str, float], float, str]:
    """This CPU model's wall ratios and tolerance; unknown models get the worst known ratio and a wider tolerance."""
    machines = baseline.get("wall", {}).get("machines", {})
    if not machines:
        raise ValueError("the baseline has no wall-time ratios ('wall': {'machines': {CPU: {'ratios': ...}}}); "
                         "record them with: fastlit bench gate --update-baseline")
    if cpu in machines:
        return machines[cpu]["ratios"], tolerance, f"wall-time baseline for {cpu}"
    worst: dict[str, float] = {}
    for entry in machines.values():
        for key, value in entry["ratios"].items():
            worst[key] = max(worst.get(key, value), value)
    note = (f"WARNING: no wall-time baseline for CPU {cpu!r} (known: {', '.join(sorted(machines))}); using the worst "
            f"known ratio per key with tolerance {tolerance * UNKNOWN_CPU_FACTOR:.0%}. Record one for this CPU with "
            "fastlit bench gate --update-baseline")
    return worst, tolerance * UNKNOWN_CPU_FACTOR, note


def measure_wall(threads: int = 1) -> dict[str, float]:
    """The wall-time keys: the autoencoder loop (whole fits, 300 steps per sample) and the kernel cases (many
    steps per sample), each interleaved with its same-run baseline; each variant's fastest sample counts."""
    from fastlit.bench import kernels, loop

    ratios = dict(loop.run(threads=threads, repeats=GATE_REPEATS, lightning=False, names=("autoencoder",),
                           stat="min")["ratios"])
    ratios.update(kernels.run(threads=threads, repeats=GATE_REPEATS + 2, quick=True, scale=GATE_KERNEL_SCALE,
                              stat=min)["ratios"])
    return ratios


def gate_wall(limits: dict[str, float], tolerance: float, measure: Callable[[], dict[str, float]],
              attempts: int = WALL_ATTEMPTS, log: Callable[[str], None] = print) -> tuple[dict[str, float], list[str]]:
    """Measure; while a key is over its limit, measure again (up to ``attempts`` runs); each key keeps its best."""
    best: dict[str, float] = {}
    for attempt in range(1, attempts + 1):
        for key, value in measure().items():
            if key not in best or not math.isfinite(best[key]) or value < best[key]:
                best[key] = value  # NaN only stays when every attempt gave NaN
        failures = compare(best, limits, tolerance)
        if not failures or attempt == attempts:
            return best, failures
        log(f"  {len(failures)} wall-time key(s) over the limit on attempt {attempt}; measuring again: "
            + "; ".join(f.split(':')[0] for f in failures))
    raise AssertionError("unreachable")


def _table(title: str, current: dict[str, float], limits: dict[str, float], tolerance: float) -> str:
    lines = [title, f"  {'key':34s} {'ratio':>8s} {'baseline':>9s} {'limit':>8s}"]
    for key, base in limits.items():
        value = current.get(key, float("nan"))
        flag = "" if math.isfinite(value) and value <= base * (1 + tolerance) else "  <-- FAIL"
        lines.append(f"  {key:34s} {value:8.4f} {base:9.4f} {base * (1 + tolerance):8.4f}{flag}")
    return "\n".join(lines)


def run(args: argparse.Namespace, machine_info: Callable[[int], dict[str, Any]]) -> int:
    """``fastlit bench gate``; ``machine_info(threads)`` describes this machine (cli.py's, passed in so the gate
    does not import the command that runs it)."""
    try:
        with open(args.baseline) as f:
            baseline = json.load(f)
    except (OSError, ValueError) as e:
        print(f"gate: cannot read the baseline {args.baseline}: {e}", file=sys.stderr)
        return 2
    info = machine_info(args.threads)
    if args.update_baseline:
        return update_baseline(args, baseline, info)
    print(f"fastlit bench gate on {info['cpu']} ({info['cores']} cores), torch {info['torch']}, "
          f"commit {info['commit']}, extension loaded: {info['extension_loaded']}")
    failures: list[str] = []
    report: dict[str, Any] = {"machine": info}
    if not info["extension_loaded"]:
        failures.append("fastlit._C is not loaded: the gate would time the fallback, not fastlit's kernels")
    if not args.no_instructions:
        failures += _instruction_part(baseline, args.instr_tolerance, report)
    try:
        limits, tolerance, note = wall_baseline(baseline, info["cpu"], args.tolerance)
    except ValueError as e:
        print(f"gate: {e}", file=sys.stderr)
        return 2
    print(note)
    wall, wall_failures = gate_wall(limits, tolerance, lambda: measure_wall(args.threads))
    report["wall"] = wall
    print(_table(f"wall time (same-run ratios, best of up to {WALL_ATTEMPTS} attempts per key):", wall, limits,
                 tolerance))
    failures += wall_failures
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)
    if failures:
        print("GATE FAILED: performance regression\n  " + "\n  ".join(failures), file=sys.stderr)
        return 1
    print(f"GATE PASSED: no instruction ratio above +{args.instr_tolerance:.0%}, no wall-time ratio above "
          f"+{tolerance:.0%} of {args.baseline}")
    return 0


def _instruction_part(baseline: dict[str, Any], tolerance: float, report: dict[str, Any]) -> list[str]:
    from fastlit.bench import instructions

    limits = baseline.get("instructions", {}).get("ratios", {})
    if not limits:
        return ["the baseline has no instruction ratios ('instructions': {'ratios': ...})"]
    try:
        result = instructions.measure()
    except instructions.Unavailable as e:
        return [str(e)]
    report["instructions"] = result
    print(_table("instruction counts under callgrind (same-run ratios, exact):", result["ratios"], limits,
                 tolerance))
    return compare(result["ratios"], limits, tolerance)


def update_baseline(args: argparse.Namespace, baseline: dict[str, Any], info: dict[str, Any], runs: int = 3) -> int:
    """Record this CPU's wall ratios (the worst of ``runs`` runs per key) and the instruction ratios."""
    from fastlit.bench import instructions

    worst: dict[str, float] = {}
    for i in range(runs):
        for key, value in measure_wall(args.threads).items():
            worst[key] = max(worst.get(key, value), value)
        print(f"wall run {i + 1}/{runs}: " + ", ".join(f"{k}={v:.4f}" for k, v in sorted(worst.items())))
    machine = {k: info[k] for k in ("cpu", "cores", "torch", "python", "commit", "copy_bandwidth_gbs")}
    wall = baseline.setdefault("wall", {}).setdefault("machines", {})
    wall[info["cpu"]] = {"machine": machine, "ratios": {k: round(worst[k], 4) for k in WALL_KEYS}}
    if not args.no_instructions:
        counted = instructions.measure()
        baseline["instructions"] = {"machine": machine, "counts": counted["counts"],
                                    "ratios": {k: round(v, 4) for k, v in counted["ratios"].items()}}
    with open(args.baseline, "w") as f:
        json.dump(baseline, f, indent=2)
        f.write("\n")
    print(f"wrote {args.baseline} (wall-time ratios for {info['cpu']}"
          + ("" if args.no_instructions else ", instruction ratios") + ")")
    return 0


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--baseline", default="benchmarks/baseline.json", help="baseline JSON (default: %(default)s)")
    p.add_argument("--no-instructions", action="store_true",
                   help="skip the callgrind instruction counts (wall time only; use where valgrind is missing)")
    p.add_argument("--instr-tolerance", type=float, default=INSTR_TOLERANCE,
                   help="allowed relative growth of an instruction ratio (default %(default)s)")
    p.add_argument("--update-baseline", action="store_true",
                   help="measure this machine and write its ratios into --baseline instead of gating")

