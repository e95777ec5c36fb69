"""lightly's "SimCLR with PyTorch Lightning" example (examples/pytorch_lightning/simclr.py), on 64 synthetic
32x32 RGB images instead of the downloaded CIFAR-10 (same image size), one epoch."""
import numpy as np
import pytorch_lightning as pl
import torch
import torchvision
from PIL import Image
from torch import nn

from lightly.loss import NTXentLoss
from lightly.models.modules import SimCLRProjectionHead
from lightly.transforms.simclr_transform import SimCLRTransform


class SimCLR(pl.LightningModule):
    def __init__(self):
        super().__init__()
        resnet = torchvision.models.resnet18()
        self.backbone = nn.Sequential(*list(resnet.children())[:-1])
        self.projection_head = SimCLRProjectionHead(512, 512, 128)
        self.criterion = NTXentLoss()

    def forward(self, x):
        x = self.backbone(x).flatten(start_dim=1)
        return self.projection_head(x)

    def training_step(self, batch, batch_index):
        (x0, x1) = batch[0]
        loss = self.criterion(self.forward(x0), self.forward(x1))
        self.log("train_loss_ssl", loss)
        return loss

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.06)


class SyntheticImages(torch.utils.data.Dataset):  # stands in for torchvision.datasets.CIFAR10(download=True)
    def __init__(self, n, transform):
        rng = np.random.default_rng(0)
        self.images = [Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)) for _ in range(n)]
        self.transform = transform

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        return self.transform(self.images[i]), 0


pl.seed_everything(0)
model = SimCLR()
dataset = SyntheticImages(64, SimCLRTransform(input_size=32))
dataloader = torch.utils.data.DataLoader(dataset, batch_size=16, shuffle=True, drop_last=True, num_workers=0)
trainer = pl.Trainer(max_epochs=1, devices=1, accelerator="cpu", logger=False, enable_checkpointing=False,
                     enable_progress_bar=False)
trainer.fit(model=model, train_dataloaders=dataloader)
print("RESULT", {k: float(v) for k, v in trainer.callback_metrics.items()})
