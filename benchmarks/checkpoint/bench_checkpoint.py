"""Checkpoint benchmark (the same functions as ``fastlit bench checkpoint``).

    python benchmarks/checkpoint/bench_checkpoint.py                  # 200 MB and 1 GB, training loop
    python benchmarks/checkpoint/bench_checkpoint.py --sizes 200 --repeats 5 --json out.json
    python benchmarks/checkpoint/bench_checkpoint.py --compare benchmarks/checkpoint/baseline.json

Files are written under --dir (default: the current directory), so run it on the disk checkpoints go to.
"""
from __future__ import annotations

import argparse
import json
import sys

from fastlit.bench import checkpoint


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="200,1024", help="state dict sizes in MiB, comma separated")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--dir", default=None, help="where the files go (default: the current directory)")
    p.add_argument("--no-training", action="store_true", help="skip the training-loop part")
    p.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    p.add_argument("--backend", choices=("auto", "native", "thread"), default="auto")
    p.add_argument("--json", metavar="PATH")
    p.add_argument("--compare", metavar="BASELINE", help="fail if a ratio is >10%% worse than BASELINE's")
    a = p.parse_args()
    result = checkpoint.run(sizes_mb=tuple(int(x) for x in a.sizes.split(",") if x), repeats=a.repeats,
                            directory=a.dir, training=not a.no_training, backend=a.backend, threads=a.threads)
    print(checkpoint.format_table(result))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(result, f, indent=2)
    if a.compare:
        with open(a.compare) as f:
            base = json.load(f)["ratios"]
        worse = [f"{k}: {result['ratios'][k]:.3f} vs {v:.3f}" for k, v in base.items()
                 if k in result["ratios"] and result["ratios"][k] > v * 1.10]
        if worse:
            print("REGRESSION:", *worse, sep="\n  ", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
