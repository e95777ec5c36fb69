"""``str(datamodule)``: Lightning's four-line summary of the train/val/test/predict loaders (issue #14, cluster 6).

Each case builds the same DataModule on fastlit and, when installed, on ``pytorch_lightning`` and compares the
strings; the fastlit string is also checked against the expected text written out here.
"""
from __future__ import annotations

import os

import pytest
import torch
from torch.utils.data import DataLoader, IterableDataset, TensorDataset

import fastlit

try:
    import pytorch_lightning as _lightning
except ImportError:  # the fastlit half of every test still runs
    _lightning = None

FRAMEWORKS = [fastlit] + ([_lightning] if _lightning is not None else [])


class _Stream(IterableDataset):
    def __iter__(self):
        yield from torch.arange(3)


def _ds(n):
    return TensorDataset(torch.zeros(n, 2))


def _make(pl, case):
    class DM(pl.LightningDataModule):
        pass

    dm = DM()
    if case == "sizes":
        dm.train_dataloader = lambda: DataLoader(_ds(32))
        dm.val_dataloader = lambda: DataLoader(_ds(16))
        dm.test_dataloader = lambda: DataLoader(_ds(8))
        dm.predict_dataloader = lambda: DataLoader(_ds(4))
    elif case == "unsized":
        dm.train_dataloader = lambda: DataLoader(_Stream())
        dm.val_dataloader = lambda: DataLoader(_ds(16))
    elif case == "several":
        dm.val_dataloader = lambda: [DataLoader(_ds(16)), DataLoader(_ds(5))]
        dm.test_dataloader = lambda: (DataLoader(_ds(2)),)
    elif case == "raises":
        def broken():
            raise RuntimeError("no data yet")

        dm.train_dataloader = broken
    return dm


N = os.linesep
EXPECTED = {
    "sizes": N.join(["{Train dataloader: size=32}", "{Validation dataloader: size=16}", "{Test dataloader: size=8}",
                     "{Predict dataloader: size=4}"]),
    "unsized": N.join(["{Train dataloader: size=NA}", "{Validation dataloader: size=16}", "{Test dataloader: None}",
                       "{Predict dataloader: None}"]),
    "several": N.join(["{Train dataloader: None}", "{Validation dataloader: 1. size=16 ; 2. size=5}",
                       "{Test dataloader: 1. size=2}", "{Predict dataloader: None}"]),
    "raises": N.join(["{Train dataloader: None}", "{Validation dataloader: None}", "{Test dataloader: None}",
                      "{Predict dataloader: None}"]),
    "empty": N.join(["{Train dataloader: None}", "{Validation dataloader: None}", "{Test dataloader: None}",
                     "{Predict dataloader: None}"]),
}


@pytest.mark.parametrize("case", sorted(EXPECTED))
@pytest.mark.parametrize("pl", FRAMEWORKS, ids=lambda m: m.__name__)
def test_datamodule_str(pl, case):
    assert str(_make(pl, case)) == EXPECTED[case]


@pytest.mark.skipif(_lightning is None, reason="pytorch_lightning not installed")
@pytest.mark.parametrize("case", sorted(EXPECTED))
def test_datamodule_str_same_as_lightning(case):
    assert str(_make(fastlit, case)) == str(_make(_lightning, case))
