"""train()/eval() around the loops: Lightning 2.x never calls ``module.train()`` at fit start and restores each
submodule's own mode after validation/test/predict, so a submodule the user froze in eval mode (a pretrained
BatchNorm) stays in eval mode throughout; batches are evaluated under inference mode."""
from __future__ import annotations

from typing import Any

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

import fastlit
from helpers import quiet


def _model_cls(pl: Any) -> type:
    class Frozen(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.head = torch.nn.Linear(4, 1)
            self.frozen = torch.nn.BatchNorm1d(4)
            self.seen: list = []

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.head(self.frozen(x))

        def training_step(self, batch: Any, batch_idx: int) -> Any:
            self.seen.append(("train", self.training, self.frozen.training, torch.is_grad_enabled()))
            return self(batch[0]).sum()

        def validation_step(self, batch: Any, batch_idx: int) -> None:
            self.seen.append(("val", self.training, self.frozen.training, torch.is_inference_mode_enabled()))

        def test_step(self, batch: Any, batch_idx: int) -> None:
            self.seen.append(("test", self.training, self.frozen.training, torch.is_inference_mode_enabled()))

        def predict_step(self, batch: Any, batch_idx: int) -> Any:
            self.seen.append(("predict", self.training, self.frozen.training, torch.is_inference_mode_enabled()))
            return self(batch[0])

        def configure_optimizers(self) -> Any:
            return torch.optim.SGD(self.parameters(), lr=0.1)

    return Frozen


def _run(pl: Any) -> tuple[list, list]:
    dl = DataLoader(TensorDataset(torch.randn(8, 4)), batch_size=4)
    model = _model_cls(pl)()
    model.frozen.eval()
    trainer = pl.Trainer(**quiet(max_epochs=1, logger=False, enable_checkpointing=False))
    modes = []
    trainer.fit(model, dl, dl)
    modes.append((model.training, model.frozen.training))
    trainer.validate(model, dl, verbose=False)
    modes.append((model.training, model.frozen.training))
    trainer.test(model, dl, verbose=False)
    modes.append((model.training, model.frozen.training))
    trainer.predict(model, dl)
    modes.append((model.training, model.frozen.training))
    model.eval()
    trainer.predict(model, dl)
    modes.append((model.training, model.frozen.training))
    return model.seen, modes


def test_frozen_submodule_stays_in_eval_mode() -> None:
    seen, modes = _run(fastlit)
    assert ("train", True, False, True) in seen
    assert all(not s[2] for s in seen)
    # validation inside fit (sanity check + epoch end) runs under no_grad, the entry points under inference mode
    assert [s[3] for s in seen if s[0] == "val"] == [False, False, False, False, True, True]
    assert all(s[3] for s in seen if s[0] in ("test", "predict"))
    assert modes == [(True, False)] * 4 + [(False, False)]


def test_module_modes_match_lightning() -> None:
    pl = pytest.importorskip("pytorch_lightning")
    assert _run(fastlit) == _run(pl)
