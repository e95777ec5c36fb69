"""A GAN with manual optimization and two optimizers (seed tutorial 003's "multiple optimizers" section).

The tutorial's pattern, in Lightning 2.x form: ``configure_optimizers`` returns ``opt_d, opt_g``;
``self.automatic_optimization = False``; ``training_step`` takes ``opt_d, opt_g = self.optimizers()`` and calls
``self.manual_backward(loss)``, ``opt.step()``, ``opt.zero_grad()`` itself (1.x's ``optimizer_idx`` argument
is gone). ``toggle_optimizer`` freezes the other network's parameters while one is stepped.

The data are scikit-learn's bundled 8x8 digits (nothing is downloaded). How good are the fakes? For each
generated image we take the distance to its nearest real training image. Real held-out digits sit at 1.05 from their
nearest training image and uniform noise at 3.58; a working generator lands near the real digits, and
the nearest neighbours of its samples cover all ten digit classes (no mode collapse).

Run:   python examples/gan.py            (150 epochs, ~12 s of CPU with OMP_NUM_THREADS=1)
       python examples/gan.py --fast     (15 epochs; FASTLIT_EXAMPLES_FAST=1 does the same)

Full setting: fakes' nearest-neighbour distance 1.56, covering 10/10 classes. Tiny setting: 1.83, and only a few
classes (15 epochs is too short to get past mode collapse).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import fastlit as pl
from _digits import cli, digits  # the data and --fast/--root: not tutorial code

LATENT = 16


class GAN(pl.LightningModule):
    def __init__(self, lr: float = 1e-3, hidden: int = 128) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.automatic_optimization = False  # we step both optimizers ourselves
        self.generator = nn.Sequential(nn.Linear(LATENT, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, hidden),
                                       nn.LeakyReLU(0.2), nn.Linear(hidden, 64), nn.Sigmoid())
        self.discriminator = nn.Sequential(nn.Linear(64, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, 1))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.generator(z)

    def training_step(self, batch, batch_idx):
        (real,) = batch
        opt_d, opt_g = self.optimizers()
        ones = torch.ones(len(real), 1, device=self.device)
        zeros = torch.zeros(len(real), 1, device=self.device)
        fake = self(torch.randn(len(real), LATENT, device=self.device))

        # Discriminator: real -> 1, fake -> 0 (fake.detach(): no gradient into the generator here).
        self.toggle_optimizer(opt_d)
        d_loss = (F.binary_cross_entropy_with_logits(self.discriminator(real), ones)
                  + F.binary_cross_entropy_with_logits(self.discriminator(fake.detach()), zeros)) / 2
        self.manual_backward(d_loss)
        opt_d.step()
        opt_d.zero_grad()
        self.untoggle_optimizer(opt_d)

        # Generator: make the discriminator say 1 on fakes.
        self.toggle_optimizer(opt_g)
        g_loss = F.binary_cross_entropy_with_logits(self.discriminator(fake), ones)
        self.manual_backward(g_loss)
        opt_g.step()
        opt_g.zero_grad()
        self.untoggle_optimizer(opt_g)

        self.log_dict({"d_loss": d_loss, "g_loss": g_loss}, prog_bar=True)

    def configure_optimizers(self):
        lr = self.hparams.lr
        opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=lr, betas=(0.5, 0.999))
        opt_g = torch.optim.Adam(self.generator.parameters(), lr=lr, betas=(0.5, 0.999))
        return opt_d, opt_g


def nearest(samples: torch.Tensor, reference: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Distance from each sample to its nearest reference image, and that image's index."""
    return torch.cdist(samples, reference).min(dim=1)


def main(fast: bool, root: str) -> dict[str, float]:
    pl.seed_everything(0)
    x, y, perm = digits(flat=True)
    train_x, train_y, held_out = x[perm[:1500]], y[perm[:1500]], x[perm[1500:]]
    loader = DataLoader(TensorDataset(train_x), batch_size=64, shuffle=True, drop_last=True)
    model = GAN()
    trainer = pl.Trainer(max_epochs=15 if fast else 150, default_root_dir=root, log_every_n_steps=10,
                         enable_progress_bar=not fast)
    trainer.fit(model, loader)

    model.eval()
    with torch.no_grad():
        fakes = model(torch.randn(500, LATENT))
    fake_dist, idx = nearest(fakes, train_x)
    real_dist, _ = nearest(held_out, train_x)
    noise_dist, _ = nearest(torch.rand(500, 64), train_x)
    classes = len(set(train_y[idx].tolist()))
    m = trainer.callback_metrics
    print(f"last step: d_loss {float(m['d_loss']):.3f}, g_loss {float(m['g_loss']):.3f}, "
          f"optimizer steps {trainer.global_step}")
    print(f"nearest real digit: held-out real {real_dist.mean():.3f}, uniform noise {noise_dist.mean():.3f}")
    print(f"gan fake-to-nearest-real distance: {fake_dist.mean():.3f} (covers {classes}/10 digit classes)")
    return {"fake": fake_dist.mean().item(), "real": real_dist.mean().item(), "noise": noise_dist.mean().item(),
            "classes": classes, "global_step": trainer.global_step}


if __name__ == "__main__":
    cli(main, __doc__, fast_epochs=15)
