"""The Trainer's fused-optimizer pipeline: torch.optim.Adam/AdamW/SGD from configure_optimizers run on fastlit's
kernels (gradient_clip_val and 16-mixed loss scaling folded into the step), with the same results as torch."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import fastlit as pl
from fastlit._ext import EXT_AVAILABLE
from fastlit.optim._base import FusedOptimizerMixin

pytestmark = pytest.mark.skipif(not EXT_AVAILABLE, reason="fastlit._C not built")


class AE(pl.LightningModule):
    """The seed autoencoder, with a choice of optimizer."""

    def __init__(self, opt="adam"):
        super().__init__()
        torch.manual_seed(0)
        self.enc = nn.Sequential(nn.Linear(784, 64), nn.ReLU(), nn.Linear(64, 3))
        self.dec = nn.Sequential(nn.Linear(3, 64), nn.ReLU(), nn.Linear(64, 784))
        self.opt, self.losses = opt, []

    def training_step(self, batch, batch_idx):
        x, _ = batch
        loss = F.mse_loss(self.dec(self.enc(x)), x)
        self.losses.append(loss.item())
        return loss

    def configure_optimizers(self):
        if self.opt == "adamw":
            opt = torch.optim.AdamW(self.parameters(), lr=1e-3, weight_decay=0.1)
        elif self.opt == "sgd":
            opt = torch.optim.SGD(self.parameters(), lr=0.05, momentum=0.9, nesterov=True)
        else:
            opt = torch.optim.Adam(self.parameters(), lr=1e-3)
        return {"optimizer": opt, "lr_scheduler": torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)}


def _fit(fused, opt="adam", **kwargs):
    g = torch.Generator().manual_seed(1)
    data = TensorDataset(torch.rand(256, 784, generator=g), torch.zeros(256))
    model = AE(opt)
    trainer = pl.Trainer(max_epochs=3, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, fused_optimizer=fused, **kwargs)
    trainer.fit(model, DataLoader(data, batch_size=32))
    return model, trainer


@pytest.mark.parametrize("opt", ["adam", "adamw", "sgd"])
def test_fused_swap_gives_the_same_losses(opt):
    fused_model, fused_trainer = _fit(True, opt)
    torch_model, torch_trainer = _fit(False, opt)
    assert isinstance(fused_trainer.optimizers[0], FusedOptimizerMixin)
    assert not isinstance(torch_trainer.optimizers[0], FusedOptimizerMixin)
    # the scheduler kept driving the swapped optimizer
    assert fused_trainer.optimizers[0].param_groups[0]["lr"] == torch_trainer.optimizers[0].param_groups[0]["lr"]
    assert fused_model.losses == pytest.approx(torch_model.losses, abs=1e-5)
    for a, b in zip(fused_model.parameters(), torch_model.parameters()):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("precision", ["32-true", "16-mixed", "bf16-mixed"])
@pytest.mark.parametrize("algorithm", ["norm", "value"])
def test_clipping_and_precision_through_the_fused_step(precision, algorithm):
    kwargs = dict(gradient_clip_val=0.01, gradient_clip_algorithm=algorithm, precision=precision)
    fused_model, fused_trainer = _fit(True, **kwargs)
    torch_model, _ = _fit(False, **kwargs)
    if algorithm == "norm":
        # clipping by norm happens inside the fused update (one norm pass, no separate clip pass)
        assert fused_trainer.optimizers[0].max_grad_norm == 0.01
        assert fused_trainer.optimizers[0].last_grad_norm is not None
    for a, b in zip(fused_model.parameters(), torch_model.parameters()):
        torch.testing.assert_close(a, b, atol=2e-5, rtol=1e-4)


def test_checkpoint_from_fused_run_loads_into_torch_optimizer(tmp_path):
    model, trainer = _fit(True)
    path = tmp_path / "m.ckpt"
    trainer.save_checkpoint(path)
    state = torch.load(path, weights_only=True)["optimizer_states"][0]
    plain = torch.optim.Adam(AE().parameters(), lr=1e-3)
    plain.load_state_dict(state)  # torch.optim's layout
    assert set(plain.state_dict()["state"][0]) == {"step", "exp_avg", "exp_avg_sq"}


def test_unsupported_optimizer_is_kept_and_the_reason_is_said(caplog):
    class MyAdam(torch.optim.Adam):  # a subclass may change the math: not swapped
        pass

    class M(AE):
        def configure_optimizers(self):
            return MyAdam(self.parameters(), lr=1e-3)

    g = torch.Generator().manual_seed(1)
    data = TensorDataset(torch.rand(64, 784, generator=g), torch.zeros(64))
    trainer = pl.Trainer(max_epochs=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False)
    import logging

    logger = logging.getLogger("fastlit")  # fastlit's logger does not propagate to the root handler
    logger.addHandler(caplog.handler)
    try:
        with caplog.at_level("INFO", logger="fastlit"):
            trainer.fit(M(), DataLoader(data, batch_size=32))
    finally:
        logger.removeHandler(caplog.handler)
    assert type(trainer.optimizers[0]) is MyAdam
    assert any("keeping MyAdam unfused" in r.message for r in caplog.records)
