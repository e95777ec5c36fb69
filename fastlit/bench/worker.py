"""Times one training run in a fresh process and prints JSON: ``python -m fastlit.bench.worker ...``.

Used to time other frameworks (e.g. ``pytorch_lightning``) with the very same model code, without fastlit
importing them: the framework is imported by name only here, in a separate process.
"""
from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import sys
import tempfile
import time
import warnings
from typing import Any, Optional

import torch

from fastlit.bench import timing, workloads
from fastlit.bench.workloads import Workload

VARIANTS = {
    "defaults": {},
    "off": {"enable_progress_bar": False, "logger": False, "enable_checkpointing": False,
            "enable_model_summary": False},
    "barebones": {"barebones": True},
}


def time_fit(pl: Any, variant: str, root: str, workload: Optional[Workload] = None, device: str = "cpu",
             extra: Optional[dict] = None) -> dict:
    """Fit ``workload`` (default: the seed autoencoder) once under framework ``pl``; return seconds and steps."""
    workload = workload or workloads.WORKLOADS["autoencoder"]
    model = workload.build(pl)()
    dl = workload.loader()
    kwargs = dict(VARIANTS[variant], max_epochs=workload.epochs, default_root_dir=root,
                  accelerator="gpu" if device == "cuda" else "cpu", devices=1, **(extra or {}))
    trainer = pl.Trainer(**kwargs)
    if device == "cuda":  # CUDA events around the whole fit, synchronized (see timing.cuda_seconds)
        seconds, _ = timing.cuda_seconds(lambda: trainer.fit(model, dl))
    else:
        t0 = time.perf_counter()
        trainer.fit(model, dl)
        seconds = time.perf_counter() - t0
    return {"seconds": seconds, "steps": int(trainer.global_step)}


def resolve_workload(args: argparse.Namespace) -> Workload:
    if getattr(args, "module", None):
        return workloads.user_workload(args.module, args.datamodule, args.init_args, args.epochs)
    return workloads.WORKLOADS[args.workload]


def main(argv: Optional[list[str]] = None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--framework", required=True, help="module name, e.g. pytorch_lightning")
    p.add_argument("--variant", choices=sorted(VARIANTS), default="defaults")
    p.add_argument("--workload", choices=sorted(workloads.WORKLOADS), default="autoencoder")
    p.add_argument("--module")
    p.add_argument("--datamodule")
    p.add_argument("--init-args", default="{}")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--warmup", type=int, default=1)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore")
    logging.disable(logging.INFO)
    pl = importlib.import_module(args.framework)
    workload = resolve_workload(args)
    with tempfile.TemporaryDirectory() as root:
        for _ in range(args.warmup):
            time_fit(pl, args.variant, os.path.join(root, "warmup"), workload, args.device)
        result = time_fit(pl, args.variant, os.path.join(root, "run"), workload, args.device)
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
