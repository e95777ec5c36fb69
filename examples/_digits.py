"""What the example scripts share: scikit-learn's bundled 8x8 digits as tensors (so nothing is downloaded), and
their command line (``--fast`` for the tiny setting CI runs, ``--root`` for where logs go).

Not part of the tutorials' code: the scripts import it as ``from _digits import ...`` (their own folder is on
``sys.path`` when run as ``python examples/<script>.py``).
"""
from __future__ import annotations

import argparse
import os
import tempfile
from typing import Any, Callable

import torch
from torch.utils.data import TensorDataset


def digits(seed: int = 0, flat: bool = False) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(images in [0, 1], labels, a seeded permutation): images ``(1797, 64)`` if ``flat`` else ``(1797, 1, 8, 8)``."""
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    x = torch.tensor(x, dtype=torch.float32) / 16.0
    if not flat:
        x = x.view(-1, 1, 8, 8)
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    return x, torch.tensor(y, dtype=torch.long), perm


def digits_splits(seed: int = 0, flat: bool = False) -> tuple[TensorDataset, TensorDataset, TensorDataset]:
    """(image, label) datasets: 1,200 train / 300 val / 297 test."""
    x, y, perm = digits(seed, flat)
    parts = perm[:1200], perm[1200:1500], perm[1500:]
    return tuple(TensorDataset(x[i], y[i]) for i in parts)  # type: ignore[return-value]


def cli(main: Callable[[bool, str], Any], doc: str, fast_epochs: int) -> None:
    """Parse ``--fast``/``--root`` (or ``FASTLIT_EXAMPLES_FAST=1``) and call ``main(fast, root)``; without
    ``--root`` the logs go to a temporary directory."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--fast", action="store_true", help=f"tiny setting for CI ({fast_epochs} epochs)")
    parser.add_argument("--root", help="where the logs go (default: a temporary directory)")
    args = parser.parse_args()
    fast = args.fast or os.environ.get("FASTLIT_EXAMPLES_FAST") == "1"
    if args.root:
        main(fast, args.root)
    else:
        with tempfile.TemporaryDirectory() as tmp:  # DDP: rank 1 makes its own, unused (only rank 0 writes)
            main(fast, tmp)
