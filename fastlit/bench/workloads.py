"""Workloads ``fastlit bench`` times. Each builds its LightningModule class from a framework module (``fastlit``
or ``pytorch_lightning``), so the very same model code runs under both, and has a hand-written PyTorch loop.

- ``autoencoder`` (the default): the seed tutorial's 784-64-3-64-784 autoencoder, Adam lr 1e-3, 6400x784
  synthetic floats, batch 64, 3 epochs. Small: the framework's own per-step cost is visible.
- ``cnn``: the seed 004 MNIST classifier (two convolutions), 640 synthetic 1x28x28 images, batch 64, 1 epoch:
  compute-bound, so the framework cost is a small share.
- ``user``: any module given with ``--module pkg.mod:Class`` (see ``user_workload``).
"""
from __future__ import annotations

import importlib
import json
from dataclasses import dataclass
from typing import Any, Callable, Optional

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

N_SAMPLES, BATCH, EPOCHS, LR = 6400, 64, 3, 1e-3


@dataclass
class Workload:
    name: str
    description: str
    build: Callable[[Any], type]  # framework module -> LightningModule subclass (constructed with no args)
    loader: Callable[[], Any]
    epochs: int


def networks(seed: int = 0) -> tuple[nn.Module, nn.Module]:
    torch.manual_seed(seed)
    encoder = nn.Sequential(nn.Linear(28 * 28, 64), nn.ReLU(), nn.Linear(64, 3))
    decoder = nn.Sequential(nn.Linear(3, 64), nn.ReLU(), nn.Linear(64, 28 * 28))
    return encoder, decoder


def loader(n: int = N_SAMPLES, batch_size: int = BATCH) -> DataLoader:
    g = torch.Generator().manual_seed(1234)
    x = torch.rand(n, 28 * 28, generator=g)
    return DataLoader(TensorDataset(x, torch.zeros(n, dtype=torch.long)), batch_size=batch_size)


def build(pl: Any) -> type:
    """The seed's ``LitAutoEncoder`` written against framework module ``pl``."""

    class LitAutoEncoder(pl.LightningModule):
        def __init__(self, seed: int = 0) -> None:
            super().__init__()
            self.encoder, self.decoder = networks(seed)

        def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
            x, _ = batch
            x = x.view(x.size(0), -1)
            loss = F.mse_loss(self.decoder(self.encoder(x)), x)
            self.log("train_loss", loss)
            return loss

        def configure_optimizers(self) -> torch.optim.Optimizer:
            return torch.optim.Adam(self.parameters(), lr=LR)

    return LitAutoEncoder


def cnn_loader(n: int = 640, batch_size: int = 64) -> DataLoader:
    g = torch.Generator().manual_seed(1234)
    return DataLoader(TensorDataset(torch.rand(n, 1, 28, 28, generator=g), torch.randint(0, 10, (n,), generator=g)),
                      batch_size=batch_size)


def build_cnn(pl: Any) -> type:
    """Seed 004's MNIST classifier written against framework module ``pl``."""

    class Model(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            torch.manual_seed(0)
            self.layers = nn.ModuleList([
                nn.Conv2d(1, 32, 3), nn.MaxPool2d(2, 2), nn.Conv2d(32, 64, 5), nn.MaxPool2d(2, 2),
                nn.Dropout2d(p=0.1), nn.AdaptiveMaxPool2d((1, 1)), nn.Flatten(), nn.Linear(64, 32), nn.ReLU(),
                nn.Linear(32, 10)])

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            for layer in self.layers:
                x = layer(x)
            return x

        def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
            x, y = batch
            loss = F.cross_entropy(self(x), y)
            self.log("train_loss", loss)
            return loss

        def configure_optimizers(self) -> torch.optim.Optimizer:
            return torch.optim.Adam(self.parameters(), lr=LR)

    return Model


WORKLOADS: dict[str, Workload] = {
    "autoencoder": Workload("autoencoder", "seed autoencoder (784-64-3-64-784), Adam, 6400x784 synthetic, batch 64",
                            build, loader, EPOCHS),
    "cnn": Workload("cnn", "seed 004 CNN classifier, Adam, 640x1x28x28 synthetic, batch 64", build_cnn,
                    cnn_loader, 1),
}


def _import(spec: str) -> Any:
    if ":" not in spec:
        raise ValueError(f"{spec!r}: expected 'package.module:ClassName'")
    mod, name = spec.split(":", 1)
    return getattr(importlib.import_module(mod), name)


def user_workload(module: str, datamodule: Optional[str] = None, init_args: str = "{}", epochs: int = 1) -> Workload:
    """A workload from the user's own ``LightningModule`` (and ``LightningDataModule``) given as ``pkg.mod:Class``.

    The class is imported as written (it subclasses fastlit's or Lightning's module); the plain loop is generated
    from its ``training_step`` and first ``configure_optimizers`` optimizer.
    """
    cls = _import(module)
    kwargs = json.loads(init_args)
    dm_cls = _import(datamodule) if datamodule else None

    def make_loader() -> Any:
        source = dm_cls() if dm_cls is not None else cls(**kwargs)
        if hasattr(source, "prepare_data"):
            source.prepare_data()
        if dm_cls is not None:
            source.setup("fit")
        return source.train_dataloader()

    return Workload(f"user:{cls.__name__}", f"{module}" + (f" with {datamodule}" if datamodule else ""),
                    lambda pl: _seeded(cls, kwargs), make_loader, epochs)


def _seeded(cls: type, kwargs: dict) -> type:
    class Seeded(cls):  # type: ignore[misc, valid-type]
        def __init__(self) -> None:
            torch.manual_seed(0)
            super().__init__(**kwargs)

    Seeded.__name__ = cls.__name__
    return Seeded


def plain_autoencoder(device: str = "cpu") -> int:
    """The seed autoencoder as a user writes it without any framework; returns the number of steps."""
    encoder, decoder = networks(0)
    model = nn.Sequential(encoder, decoder).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    steps = 0
    for _ in range(EPOCHS):
        for x, _y in loader():
            x = x.to(device, non_blocking=True).view(x.size(0), -1)
            loss = F.mse_loss(model(x), x)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            steps += 1
    return steps


def plain_loop(workload: Optional[Workload] = None, device: str = "cpu") -> int:
    """A hand-written PyTorch loop for ``workload`` (generated from its ``training_step`` and first optimizer,
    except the autoencoder, which is fully hand-written); returns the number of steps."""
    workload = workload or WORKLOADS["autoencoder"]
    if workload.name == "autoencoder":
        steps = plain_autoencoder(device)
    else:
        import fastlit  # the module class needs a framework base; no Trainer is used here

        model = workload.build(fastlit)().to(device)
        out = model.configure_optimizers()
        opt = out["optimizer"] if isinstance(out, dict) else out
        opt = opt[0] if isinstance(opt, (list, tuple)) else opt
        dl = workload.loader()
        steps = 0
        for _ in range(workload.epochs):
            for i, batch in enumerate(dl):
                if isinstance(batch, (list, tuple)):
                    batch = type(batch)(b.to(device, non_blocking=True) for b in batch)
                loss = model.training_step(batch, i)
                loss = loss["loss"] if isinstance(loss, dict) else loss
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                steps += 1
    if device != "cpu":
        torch.cuda.synchronize()
    return steps
