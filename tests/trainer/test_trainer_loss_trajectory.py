"""The seed autoencoder (784-64-3-64-784, Adam lr 1e-3) trained by ``Trainer.fit`` follows the loss trajectory of
a hand-written PyTorch loop (same seed, no shuffle) to 5 decimals, with the fused optimizer off and on (the
default), and Lightning's trajectory too."""
from __future__ import annotations

from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

import fastlit
from helpers import Decoder, Encoder, mnist_like, models, quiet

EPOCHS, BATCH = 2, 32


def _data() -> DataLoader:
    return DataLoader(mnist_like(256, seed=7), batch_size=BATCH, shuffle=False)


def _reference() -> tuple[list[float], list[torch.Tensor]]:
    torch.manual_seed(0)
    encoder, decoder = Encoder(), Decoder()
    params = list(encoder.parameters()) + list(decoder.parameters())
    opt = torch.optim.Adam(params, lr=1e-3)
    losses = []
    for _ in range(EPOCHS):
        for x, _y in _data():
            x = x.view(x.size(0), -1)
            loss = F.mse_loss(decoder(encoder(x)), x)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
    return losses, [p.detach().clone() for p in params]


def _fit(pl: Any, **trainer_kw: Any) -> tuple[list[float], list[torch.Tensor], Any]:
    losses: list[float] = []

    class Record(pl.Callback):
        def on_train_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
            losses.append(outputs["loss"].item())

    torch.manual_seed(0)
    model = models(pl).LitAutoEncoder(Encoder(), Decoder())
    trainer = pl.Trainer(**quiet(max_epochs=EPOCHS, logger=False, enable_checkpointing=False, callbacks=[Record()],
                                 **trainer_kw))
    trainer.fit(model, _data())
    return losses, [p.detach().clone() for p in model.parameters()], trainer


@pytest.mark.parametrize("fused", [False, True], ids=["unfused", "default"])
def test_fit_loss_trajectory_equals_hand_written_loop(fused: bool) -> None:
    ref_losses, ref_params = _reference()
    kw = {} if fused else {"fused_optimizer": False}
    losses, params, trainer = _fit(fastlit, **kw)
    assert len(losses) == len(ref_losses) == EPOCHS * 256 // BATCH
    assert losses == pytest.approx(ref_losses, abs=1e-5)
    assert losses[-1] < losses[0]  # it trains
    for p, r in zip(params, ref_params):
        torch.testing.assert_close(p, r, rtol=1e-4, atol=1e-5)
    if not fused:
        assert type(trainer.optimizers[0]) is torch.optim.Adam


def test_fit_loss_trajectory_equals_lightnings() -> None:
    pl = pytest.importorskip("pytorch_lightning")
    theirs, their_params, _ = _fit(pl)
    ours, our_params, _ = _fit(fastlit, fused_optimizer=False)
    assert ours == pytest.approx(theirs, abs=1e-6)
    for p, r in zip(our_params, their_params):
        torch.testing.assert_close(p, r)
