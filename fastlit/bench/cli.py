"""``fastlit bench``: run suites, print a table, optionally write JSON and compare ratios with a baseline."""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
from typing import Any, Optional

SUITES = ("loop", "kernels", "checkpoint", "ddp")


def _suites(text: str) -> tuple[str, ...]:
    if text == "gate":
        return ("gate",)
    names = SUITES if text == "all" else tuple(t for t in text.split(",") if t)
    bad = [n for n in names if n not in SUITES]
    if bad or not names:
        raise argparse.ArgumentTypeError(f"unknown suite(s) {bad or text!r}; choose from {', '.join(SUITES)}, all, gate")
    return names


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("suite", nargs="?", default="loop", type=_suites,
                   help="what to measure: loop (default; autoencoder + CNN), kernels, checkpoint, ddp (2 gloo ranks), all, "
                        "or a comma list such as loop,kernels; or gate: the CI regression gate against --baseline "
                        "(exit 0 = no regression, 1 = regression)")
    p.add_argument("--device", choices=("cpu", "cuda", "auto"), default="cpu",
                   help="where the loop suite trains (default cpu; auto = cuda when available)")
    p.add_argument("--workloads", default="autoencoder,cnn",
                   help="built-in loop workloads, comma separated (default: autoencoder,cnn)")
    p.add_argument("--module", metavar="PKG.MOD:CLASS", help="also time your own LightningModule")
    p.add_argument("--datamodule", metavar="PKG.MOD:CLASS", help="the DataModule for --module")
    p.add_argument("--init-args", default="{}", help="JSON kwargs for --module's constructor")
    p.add_argument("--epochs", type=int, default=1, help="epochs for --module (default 1)")
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1)")
    p.add_argument("--repeats", type=int, default=5, help="interleaved repeats per variant (default 5)")
    p.add_argument("--quick", action="store_true", help="fewer repeats (3), for CI")
    p.add_argument("--no-lightning", action="store_true", help="skip timing pytorch_lightning even if installed")
    p.add_argument("--json", metavar="PATH", help="write every figure to PATH as JSON")
    p.add_argument("--plot", metavar="PATH.png", help="draw the ratios of this run to PATH.png (needs matplotlib)")
    p.add_argument("--compare", metavar="BASELINE", help="fail if a ratio is worse than BASELINE.json's")
    p.add_argument("--tolerance", type=float, default=None,
                   help="allowed relative regression of a wall-time ratio (default 0.10 for --compare, 0.25 for gate)")
    from fastlit.bench import gate

    gate.add_arguments(p.add_argument_group("gate options"))


def copy_bandwidth_gbs(nbytes: int = 256 << 20, repeats: int = 5) -> float:
    """Host memory copy bandwidth (read + write bytes per second), the floor kernel figures are read against."""
    import time

    import torch

    src = torch.empty(nbytes // 4, dtype=torch.float32).fill_(1.0)
    dst = torch.empty_like(src)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        dst.copy_(src)
        best = min(best, time.perf_counter() - t0)
    return 2 * nbytes / best / 1e9


def gpu_info() -> Optional[dict[str, Any]]:
    """Name and memory of GPU 0, plus utilization/power from NVML (nvidia-ml-py) when it is available."""
    import torch

    if not torch.cuda.is_available():
        return None
    info: dict[str, Any] = {"name": torch.cuda.get_device_name(0),
                            "memory_total_gb": torch.cuda.get_device_properties(0).total_memory / 1e9}
    try:
        import pynvml

        pynvml.nvmlInit()
        h = pynvml.nvmlDeviceGetHandleByIndex(0)
        info["utilization_pct"] = pynvml.nvmlDeviceGetUtilizationRates(h).gpu
        info["power_w"] = pynvml.nvmlDeviceGetPowerUsage(h) / 1000
        info["memory_used_gb"] = pynvml.nvmlDeviceGetMemoryInfo(h).used / 1e9
    except Exception as e:  # NVML missing or not permitted: the torch figures above still stand
        info["nvml"] = f"unavailable: {e}"
    return info


def machine_info(threads: int) -> dict[str, Any]:
    import torch

    from fastlit import __version__
    from fastlit._ext import EXT_AVAILABLE

    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    commit = None
    try:
        here = os.path.dirname(os.path.abspath(__file__))
        commit = subprocess.run(["git", "-C", here, "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, timeout=5).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "threads": threads, "torch": torch.__version__,
            "python": platform.python_version(), "fastlit": __version__, "commit": commit,
            "extension_loaded": EXT_AVAILABLE, "copy_bandwidth_gbs": round(copy_bandwidth_gbs(), 2),
            "gpu": gpu_info()}


def run(args: argparse.Namespace) -> int:
    import importlib.util

    from fastlit.bench import gate

    if args.suite == ("gate",):
        if args.tolerance is None:
            args.tolerance = gate.WALL_TOLERANCE
        return gate.run(args, machine_info)
    if args.tolerance is None:
        args.tolerance = 0.10

    if args.plot and importlib.util.find_spec("matplotlib") is None:  # say so before minutes of measuring
        print("--plot needs matplotlib: pip install matplotlib (or pip install -e '.[examples]')", file=sys.stderr)
        return 2
    from fastlit.bench import loop

    repeats = 3 if args.quick else args.repeats
    info = machine_info(args.threads)
    print(f"fastlit bench on {info['cpu']} ({info['cores']} cores, copy bandwidth {info['copy_bandwidth_gbs']} GB/s), "
          f"torch {info['torch']}, fastlit {info['fastlit']} ({info['commit'] or 'no git'}), extension loaded: "
          f"{info['extension_loaded']}" + (f", GPU {info['gpu']['name']}" if info["gpu"] else ""))
    report: dict[str, Any] = {"machine": info, "suites": {}, "ratios": {}}
    if "loop" in args.suite:
        import torch

        from fastlit.bench import workloads

        device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
        names = tuple(n for n in args.workloads.split(",") if n)
        unknown = [n for n in names if n not in workloads.WORKLOADS]
        if unknown:
            print(f"unknown workload(s) {unknown}; choose from {sorted(workloads.WORKLOADS)}", file=sys.stderr)
            return 2
        user = None
        if args.module:
            wl = workloads.user_workload(args.module, args.datamodule, args.init_args, args.epochs)
            user = (wl, ["--module", args.module, "--init-args", args.init_args, "--epochs", str(args.epochs)]
                    + (["--datamodule", args.datamodule] if args.datamodule else []))
        result = loop.run(threads=args.threads, repeats=repeats, lightning=not args.no_lightning, names=names,
                          device=device, user=user)
        print(loop.format_table(result))
        report["suites"]["loop"] = result
        report["ratios"].update(result["ratios"])
    if "kernels" in args.suite:
        from fastlit.bench import kernels

        result = kernels.run(threads=args.threads, repeats=5 if args.quick else 15, quick=args.quick)
        print(kernels.format_table(result))
        report["suites"]["kernels"] = result
        report["ratios"].update(result["ratios"])
    if "checkpoint" in args.suite:
        from fastlit.bench import checkpoint

        result = checkpoint.run(sizes_mb=(200,) if args.quick else (200, 1024), repeats=2 if args.quick else 3,
                                threads=args.threads)
        print(checkpoint.format_table(result))
        report["suites"]["checkpoint"] = result
        report["ratios"].update(result["ratios"])
    if "ddp" in args.suite:
        from fastlit.bench import ddp

        result = ddp.run(repeats=2 if args.quick else max(1, args.repeats // 2))
        print(ddp.format_table(result))
        report["suites"]["ddp"] = result
        report["ratios"].update(result["ratios"])
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)
        print(f"wrote {args.json}")
    if args.plot:
        from fastlit.bench.plot import plot

        plot(report, args.plot)
        print(f"wrote {args.plot}")
    if args.compare:
        with open(args.compare) as f:
            baseline = json.load(f)
        worse = gate.compare(report["ratios"], baseline.get("ratios", baseline), args.tolerance)
        if worse:
            print(f"REGRESSION (tolerance {args.tolerance:.0%}):", *worse, sep="\n  ", file=sys.stderr)
            return 1
        print(f"no ratio regressed beyond {args.tolerance:.0%} of {args.compare}")
    return 0
