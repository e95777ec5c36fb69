"""User state in checkpoints: a callback's state_dict, a datamodule's state_dict, keys a module adds in
on_save_checkpoint; written under Lightning's keys and handed back on resume / load_from_checkpoint, as in
Lightning."""
from __future__ import annotations

import os
from typing import Any

import pytest
import torch

import fastlit
from helpers import find_files, models, quiet, randn_loader

pl_lightning = pytest.importorskip("pytorch_lightning")


def _classes(pl: Any) -> tuple[type, type, type]:
    class Counter(pl.Callback):
        def __init__(self, tag: str = "a") -> None:
            self.tag, self.batches, self.loaded = tag, 0, None

        @property
        def state_key(self) -> str:
            return self._generate_state_key(tag=self.tag)

        def on_train_batch_end(self, *args: Any) -> None:
            self.batches += 1

        def state_dict(self) -> dict:
            return {"batches": self.batches}

        def load_state_dict(self, state: dict) -> None:
            self.batches = state["batches"]
            self.loaded = dict(state)

    class DM(pl.LightningDataModule):
        def __init__(self) -> None:
            super().__init__()
            self.seen_epochs = 0
            self.restored = None

        def train_dataloader(self) -> Any:
            self.seen_epochs += 1
            return randn_loader(8)

        def state_dict(self) -> dict:
            return {"seen_epochs": self.seen_epochs}

        def load_state_dict(self, state: dict) -> None:
            self.restored = dict(state)

    class M(models(pl).BoringModel):
        def on_save_checkpoint(self, checkpoint: dict) -> None:
            checkpoint["my_key"] = {"answer": 42}

        def on_load_checkpoint(self, checkpoint: dict) -> None:
            self.loaded_key = checkpoint.get("my_key")

    return Counter, DM, M


def _first_run(pl: Any, root: str) -> str:
    Counter, DM, M = _classes(pl)
    trainer = pl.Trainer(**quiet(default_root_dir=root, max_epochs=2, logger=False,
                                 callbacks=[Counter("a"), Counter("b")]))
    trainer.fit(M(), datamodule=DM())
    files = find_files(root, ".ckpt")
    assert len(files) == 1
    return os.path.join(root, files[0])


@pytest.mark.parametrize("writer", ["lightning", "fastlit"])
def test_user_state_round_trip(writer: str, tmp_path: Any) -> None:
    ckpt = _first_run(pl_lightning if writer == "lightning" else fastlit, str(tmp_path / "w"))
    raw = torch.load(ckpt, weights_only=False)
    assert raw["my_key"] == {"answer": 42} and raw["_classes.<locals>.DM"] == {"seen_epochs": 1}  # __qualname__
    counters = sorted(k for k in raw["callbacks"] if not k.startswith("ModelCheckpoint"))
    assert counters == ["_classes.<locals>.Counter{'tag': 'a'}", "_classes.<locals>.Counter{'tag': 'b'}"]
    results = []
    for pl in (pl_lightning, fastlit):
        Counter, DM, M = _classes(pl)
        cbs, dm, model = [Counter("a"), Counter("b")], DM(), M()
        trainer = pl.Trainer(**quiet(default_root_dir=str(tmp_path / pl.__name__), max_epochs=3, logger=False,
                                     callbacks=list(cbs)))
        trainer.fit(model, datamodule=dm, ckpt_path=ckpt)
        results.append(([c.loaded for c in cbs], [c.batches for c in cbs], dm.restored, model.loaded_key,
                        trainer.global_step))
        loaded = M.load_from_checkpoint(ckpt)
        assert loaded.loaded_key == {"answer": 42}
    assert results[1] == results[0]
    assert results[1][1] == [6, 6]  # 4 batches before + 2 after resuming
