"""The ``ddp`` suite: the seed autoencoder on 2 gloo ranks, fastlit (``devices=2``) vs a plain
``DistributedDataParallel`` script started the same way, in the same run.

Each run is fresh processes; rank 0 reports the steady-state ms/step (epochs after the first) and the time from
launch to its first training step.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from typing import Any

from fastlit.bench import timing
from fastlit.strategies.ddp import _free_port

EPOCHS = 3
_PLAIN = r'''
import json, os, sys, time
T0 = float(sys.argv[2])
import torch, torch.distributed as dist, torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel as DDP
from torch.utils.data import DataLoader, DistributedSampler
from fastlit.bench import workloads
torch.set_num_threads(1)
dist.init_process_group("gloo")
enc, dec = workloads.networks(0)
model = DDP(torch.nn.Sequential(enc, dec))
opt = torch.optim.Adam(model.parameters(), lr=workloads.LR)
base = workloads.loader()
dl = DataLoader(base.dataset, batch_size=workloads.BATCH, sampler=DistributedSampler(base.dataset, shuffle=False))
first, marks, steps = None, [], 0
for epoch in range(EPOCHS):
    dl.sampler.set_epoch(epoch)
    marks.append(time.perf_counter())
    for x, _ in dl:
        if first is None:
            first = time.time() - T0
        loss = F.mse_loss(model(x), x)
        opt.zero_grad(set_to_none=True); loss.backward(); opt.step(); steps += 1
marks.append(time.perf_counter())
if dist.get_rank() == 0:
    per_epoch = steps // EPOCHS
    json.dump({"ms_per_step": (marks[-1] - marks[1]) / (per_epoch * (EPOCHS - 1)) * 1e3, "first_step_s": first},
              open(sys.argv[1], "w"))
'''
_FASTLIT = r'''
import json, sys, time
T0 = float(sys.argv[2])
import torch
import fastlit as pl
from fastlit.bench import workloads
torch.set_num_threads(1)

class Clock(pl.Callback):
    def __init__(self): self.marks, self.first = [], None
    def on_train_epoch_start(self, trainer, module):
        self.marks.append(time.perf_counter())
        if self.first is None: self.first = time.time() - T0
    def on_train_epoch_end(self, trainer, module): self.marks.append(time.perf_counter())

clock = Clock()
trainer = pl.Trainer(max_epochs=EPOCHS, accelerator="cpu", devices=2, strategy="ddp", callbacks=[clock],
                     enable_progress_bar=False, logger=False, enable_checkpointing=False, enable_model_summary=False)
trainer.fit(workloads.build(pl)(), workloads.loader())
if trainer.global_rank == 0:
    per_epoch = trainer.global_step // EPOCHS
    steady = clock.marks[-1] - clock.marks[2]  # from the start of epoch 1 to the end of the last epoch
    json.dump({"ms_per_step": steady / (per_epoch * (EPOCHS - 1)) * 1e3, "first_step_s": clock.first},
              open(sys.argv[1], "w"))
'''


def _launch(kind: str, tmp: str) -> dict[str, float]:
    code = (_PLAIN if kind == "plain" else _FASTLIT).replace("EPOCHS", str(EPOCHS))
    script = os.path.join(tmp, f"ddp_{kind}_run.py")  # not fastlit.py: that would shadow the package
    with open(script, "w") as f:
        f.write(code)
    out = os.path.join(tmp, f"{kind}.json")
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_PORT")}
    t0 = time.time()
    if kind == "plain":  # started the way torchrun would: both ranks at once with the rendezvous env vars
        env.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(_free_port()), WORLD_SIZE="2")
        procs = [subprocess.Popen([sys.executable, script, out, str(t0)], env=dict(env, RANK=str(r), LOCAL_RANK=str(r)),
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for r in range(2)]
    else:  # `python script.py`: fastlit starts rank 1 itself inside fit()
        procs = [subprocess.Popen([sys.executable, script, out, str(t0)], env=env, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, text=True)]
    errors = [p.communicate(timeout=600)[1] for p in procs]
    if any(p.returncode for p in procs):
        raise RuntimeError(f"{kind} DDP run failed:\n" + "\n".join(e[-2000:] for e in errors))
    with open(out) as f:
        return json.load(f)


def run(repeats: int = 3) -> dict[str, Any]:
    """Interleave plain-DDP and fastlit-DDP launches; report median ms/step and launch-to-first-step."""
    with tempfile.TemporaryDirectory() as tmp:
        results: dict[str, list[dict[str, float]]] = {"plain": [], "fastlit": []}
        for _ in range(repeats):
            for kind in results:
                results[kind].append(_launch(kind, tmp))
    rows = []
    base = timing.summarize([r["ms_per_step"] for r in results["plain"]])["median"]
    for kind, label in (("plain", "plain DistributedDataParallel"), ("fastlit", "fastlit devices=2")):
        s = timing.summarize([r["ms_per_step"] for r in results[kind]])
        first = timing.summarize([r["first_step_s"] for r in results[kind]])["median"]
        rows.append({"variant": kind, "label": label, "ms_per_step": s["median"], "spread": s["spread"],
                     "first_step_s": first, "ratio_vs_plain": s["median"] / base})
    return {"workload": "seed autoencoder, 2 gloo ranks x batch 64, 1 thread each", "repeats": repeats,
            "rows": rows, "ratios": {"ddp.fastlit": rows[1]["ratio_vs_plain"]}}


def format_table(result: dict[str, Any]) -> str:
    lines = [f"ddp: {result['workload']}, {result['repeats']} interleaved launches, median",
             f"  {'variant':<34}{'ms/step':>10}{'spread':>9}{'vs plain':>10}{'launch->1st step':>18}"]
    for r in result["rows"]:
        lines.append(f"  {r['label']:<34}{r['ms_per_step']:>10.3f}{r['spread'] * 100:>8.1f}%"
                     f"{r['ratio_vs_plain']:>9.2f}x{r['first_step_s']:>16.2f} s")
    return "\n".join(lines)
