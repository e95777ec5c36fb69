"""Real client code as tests: libraries built on Lightning, and Lightning's own example scripts, run under fastlit
(``python -m fastlit.run``, via launch.py) and under the real Lightning 2.6.6; their reported metrics compared.

    python tools/clients/run.py [--cache DIR] [--lightning-git GITDIR --ref 2.6.5 | --lightning-src DIR] [--only X]

Needs the package registry (pip) the first time; installs every library with ``pip install --no-deps --target``
into DIR (never into the environment: torch, numpy... stay as they are). See tools/clients/README.md.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
import io
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
RTOL, ATOL = 1e-4, 1e-6  # stated tolerance: |fastlit - lightning| <= ATOL + RTOL * |lightning|

# shared by every run: the unified `lightning` package (the reference side; under fastlit the hook maps it), a
# torchvision built for this torch (CUDA wheel: launch.py skips its op registration), jsonargparse for LightningCLI
COMMON = {
    "lightning": ["lightning==2.6.6"],
    "torchvision": ["torchvision==0.28.*"],
    "jsonargparse": ["jsonargparse[signatures]>=4.27", "docstring-parser", "typeshed-client"],
}
CLIENTS = [
    {"name": "pytorch-forecasting 1.8.0 (N-BEATS tutorial)", "script": "forecasting_nbeats.py", "env": "forecasting",
     "pip": ["pytorch-forecasting==1.8.0", "pandas<3.1", "scikit-base<1.1", "pytz", "tzdata"]},
    {"name": "pytorch-tabular 1.2.0 (quickstart)", "script": "tabular_quickstart.py", "env": "tabular",
     "pip": ["pytorch_tabular==1.2.0", "pandas<3", "pytz", "tzdata", "einops", "rich", "markdown-it-py", "mdurl",
             "scikit-base==1.2.0"]},
    {"name": "lightly 1.6.0 (SimCLR with PyTorch Lightning)", "script": "lightly_simclr.py", "env": "lightly",
     "pip": ["lightly==1.6.0", "lightly_utils", "aenum"], "common": ["torchvision"]},
]
SMALL_CLI = ["--trainer.max_epochs=1", "--trainer.limit_train_batches=20", "--trainer.limit_val_batches=5",
             "--trainer.limit_test_batches=5", "--trainer.limit_predict_batches=2", "--trainer.accelerator=cpu"]
EXAMPLES = [
    {"name": "bug_report/bug_report_model.py", "args": [], "data": None},
    {"name": "basics/backbone_image_classifier.py", "args": SMALL_CLI, "data": "mnist"},
    {"name": "basics/autoencoder.py", "args": SMALL_CLI, "data": "mnist"},
    {"name": "basics/transformer.py", "args": [], "data": "wikitext2"},
]
NOT_RUN = {  # Lightning's examples not run, and why
    "domain_templates/generative_adversarial_net.py": "hard-codes Trainer(accelerator='gpu') and trains without "
    "an epoch limit (1000 epochs)",
    "domain_templates/computer_vision_fine_tuning.py": "needs downloaded pretrained ResNet-50 weights",
    "domain_templates/imagenet.py": "needs an ImageNet folder; full-size ResNet training",
    "domain_templates/reinforce_learn_Qnet.py": "needs gym environments",
    "domain_templates/reinforce_learn_ppo.py": "needs gym environments",
    "domain_templates/semantic_segmentation.py": "needs the KITTI dataset folder",
    "basics/profiler_example.py": "needs downloaded CIFAR-10 and torchvision's pretrained models",
    "servable_module/production.py": "needs downloaded CIFAR-10 and pretrained ResNet-18 weights",
    "fp8_distributed_transformer/train.py": "needs CUDA GPUs (FP8, FSDP)",
    "tensor_parallel/train.py": "needs CUDA GPUs (tensor parallelism)",
}


def pip_target(target: Path, reqs: list[str]) -> None:
    """Install ``reqs`` (no dependencies: the environment's torch/numpy are used) into ``target`` once."""
    stamp = target / ".fastlit-clients.json"
    if stamp.exists() and json.loads(stamp.read_text()) == reqs:
        return
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--upgrade", "--target", str(target),
                    *reqs], check=True)
    bad = [p.name for p in target.iterdir() if p.name in ("torch", "numpy", "triton")]
    if bad:
        raise SystemExit(f"{target}: {bad} came with {reqs}; refusing to use them")
    stamp.write_text(json.dumps(reqs))


def make_mnist(root: Path) -> None:
    """Lightning's hosted MNIST files (what demos.mnist_datamodule downloads), synthetic, same shapes/dtypes."""
    import torch

    folder = root / "MNIST" / "complete"
    if (folder / "test.pt").exists():
        return
    folder.mkdir(parents=True, exist_ok=True)
    g = torch.Generator().manual_seed(0)
    for name, n in (("training.pt", 60000), ("test.pt", 10000)):
        targets = torch.randint(0, 10, (n,), generator=g)
        # a class-dependent blob plus noise, so the classifier has something to learn
        base = torch.rand(10, 28, 28, generator=g)
        data = ((base[targets] * 0.6 + torch.rand(n, 28, 28, generator=g) * 0.4) * 255).to(torch.uint8)
        torch.save((data, targets), folder / name)


def make_wikitext2(path: Path) -> None:
    """WikiText2's ``wikitext-2.txt`` (what demos.WikiText2 downloads), synthetic: 4,200 blocks of 35 tokens."""
    import random

    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = random.Random(0)
    words = [f"w{i}" for i in range(300)]
    lines = [" ".join(rng.choice(words) for _ in range(rng.randint(5, 30))) for _ in range(8500)]
    path.write_text("\n".join(lines) + "\n")


def run_side(side: str, script: Path, args: list[str], cwd: Path, pythonpath: list[Path], env_extra: dict) -> dict:
    out = cwd / f"{side}.json"
    # this checkout's fastlit first: the runner tests the tree it is in, not whichever fastlit pip installed
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(map(str, [REPO, *pythonpath])), **env_extra)
    t0 = time.time()
    proc = subprocess.run([sys.executable, str(HERE / "launch.py"), side, str(out), str(script), *args], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=900)
    (cwd / f"{side}.log").write_text(proc.stdout + proc.stderr)
    rep = json.loads(out.read_text()) if out.exists() else {"trainers": []}
    rep.update(rc=proc.returncode, seconds=round(time.time() - t0, 1),
               error=(proc.stderr.strip().splitlines() or [""])[-1] if proc.returncode else None)
    return rep


def close(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return abs(a - b) <= ATOL + RTOL * abs(b)
    return a == b


def compare(f: dict, l: dict) -> tuple[bool, list[str], float]:
    """(passed, reasons, largest relative difference) of two launch.py reports."""
    reasons, worst = [], 0.0
    if f["rc"] or l["rc"]:
        reasons.append(f"exit codes fastlit {f['rc']} ({f['error']}), lightning {l['rc']} ({l['error']})")
    if len(f["trainers"]) != len(l["trainers"]):
        reasons.append(f"{len(f['trainers'])} vs {len(l['trainers'])} trainers")
    for i, (tf, tl) in enumerate(zip(f["trainers"], l["trainers"])):
        for key in ("global_step", "epoch"):
            if tf[key] != tl[key]:
                reasons.append(f"trainer {i} {key}: {tf[key]} vs {tl[key]}")
        pairs = [(f"metric {k}", tf["metrics"].get(k), tl["metrics"].get(k))
                 for k in sorted(set(tf["metrics"]) | set(tl["metrics"]))]
        pairs += [(f"params {k}", (tf["params"] or {}).get(k), (tl["params"] or {}).get(k)) for k in ("sum", "abs_sum", "count")]
        for name, a, b in pairs:
            if not close(a, b):
                reasons.append(f"trainer {i} {name}: {a} vs {b}")
            elif isinstance(a, float) and isinstance(b, float) and b:
                worst = max(worst, abs(a - b) / abs(b))
    return not reasons, reasons, worst


def headline(rep: dict) -> str:
    if not rep["trainers"]:
        return "-"
    m = rep["trainers"][-1]["metrics"]
    keys = [k for k in m if "val" in k or "test" in k] or list(m)
    return ", ".join(f"{k}={m[k]:.6g}" if isinstance(m[k], float) else f"{k}={m[k]}" for k in keys[:3])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cache", type=Path, default=Path(os.environ.get("FASTLIT_CLIENTS_CACHE", "/tmp/fastlit-clients")))
    ap.add_argument("--lightning-git", type=Path, help="a git clone/mirror of Lightning-AI/pytorch-lightning")
    ap.add_argument("--ref", default="2.6.5", help="tag of the examples (2.6.5: the last tag with examples/ "
                    "before 2.6.6, same files)")
    ap.add_argument("--lightning-src", type=Path, help="a checkout of Lightning (instead of --lightning-git)")
    ap.add_argument("--only", help="run only entries whose name contains this")
    ap.add_argument("--json", type=Path, help="write all results here")
    a = ap.parse_args()
    cache = a.cache.resolve()
    cache.mkdir(parents=True, exist_ok=True)
    for key, reqs in COMMON.items():
        pip_target(cache / "common" / key, reqs)
    rows = []

    def record(kind, name, f, l):
        ok, reasons, worst = compare(f, l)
        rows.append({"kind": kind, "name": name, "pass": ok, "reasons": reasons, "max_rel_diff": worst,
                     "fastlit": headline(f), "lightning": headline(l), "seconds": [f["seconds"], l["seconds"]]})
        print(f"{'PASS' if ok else 'FAIL'} {name}: fastlit [{headline(f)}] lightning [{headline(l)}] "
              f"max rel diff {worst:.2g}" + "".join(f"\n    {r}" for r in reasons[:8]), flush=True)

    for c in CLIENTS:
        if a.only and a.only not in c["name"]:
            continue
        target = cache / "clients" / c["env"]
        pip_target(target, c["pip"])
        path = [target] + [cache / "common" / k for k in ["lightning", *c.get("common", [])]]
        work = cache / "runs" / c["env"]
        work.mkdir(parents=True, exist_ok=True)
        reps = [run_side(s, HERE / "scenarios" / c["script"], [], work, path, {}) for s in ("fastlit", "lightning")]
        record("client", c["name"], *reps)

    src = a.lightning_src
    if src is None and a.lightning_git is not None:
        src = cache / f"lightning-{a.ref}"
        if not (src / "examples" / "pytorch").exists():
            blob = subprocess.run(["git", "--git-dir", str(a.lightning_git), "archive", "--format=tar", a.ref,
                                   "examples/pytorch"], check=True, capture_output=True).stdout
            tarfile.open(fileobj=io.BytesIO(blob)).extractall(src)
    if src is None:
        print("Lightning's examples skipped: pass --lightning-git or --lightning-src", flush=True)
    else:
        for ex in EXAMPLES:
            if a.only and a.only not in ex["name"]:
                continue
            work = cache / "runs" / ("example-" + ex["name"].replace("/", "-"))
            work.mkdir(parents=True, exist_ok=True)
            script = src / "examples" / "pytorch" / ex["name"]
            env = {}
            if ex["data"] == "mnist":  # both MNIST loaders read Lightning's hosted tensors (no torchvision download)
                env["PL_USE_MOCKED_MNIST"] = "1"
                make_mnist(script.parent.parent.parent / "Datasets")  # the examples' DATASETS_PATH
            if ex["data"] == "wikitext2":
                make_wikitext2(work / "data" / "wikitext-2.txt")
            path = [cache / "common" / k for k in COMMON]
            reps = [run_side(s, script, ex["args"], work, path, env) for s in ("fastlit", "lightning")]
            record("example", ex["name"], *reps)
    if a.json:
        a.json.write_text(json.dumps(rows, indent=1))
    print(f"{sum(r['pass'] for r in rows)} passed, {sum(not r['pass'] for r in rows)} failed")
    sys.exit(0 if all(r["pass"] for r in rows) else 1)


if __name__ == "__main__":
    main()
