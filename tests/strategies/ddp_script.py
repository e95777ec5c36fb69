"""A training script the DDP tests run as `python ddp_script.py OUT_DIR MODE ...` (and under torchrun).

Each rank writes what it observed to OUT_DIR/rank<R>.json so the test can compare ranks and runs.

The signal tests set TEST_HOLD_AT=N (and TEST_HOLD_RANKS, default "0"): on those ranks the training step that
starts at global step N creates OUT_DIR/holding<R> and stays inside the step until this rank has noted a signal
(at most 120 s), so the test sends its signal at a known step instead of after a sleep.
"""
import json
import os
import sys
import time

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import fastlit as pl

out_dir, mode = sys.argv[1], sys.argv[2]
devices = int(os.environ.get("TEST_DEVICES", "2"))
batch = int(os.environ.get("TEST_BATCH", "8"))


class Net(pl.LightningModule):
    def __init__(self, fail_rank: int = -1):
        super().__init__()
        torch.manual_seed(0)
        self.l1, self.l2 = nn.Linear(8, 16), nn.Linear(16, 1)
        self.fail_rank = fail_rank

    def training_step(self, b, i):
        if os.environ.get("TEST_SLEEP"):  # the signal test: slow steps, rank 0 reports progress
            time.sleep(float(os.environ["TEST_SLEEP"]))
            if self.global_rank == 0:
                with open(os.path.join(out_dir, "progress"), "w") as f:
                    f.write(str(self.global_step))
        if self.global_step == int(os.environ.get("TEST_HOLD_AT", "-1")) and str(self.global_rank) in os.environ.get(
                "TEST_HOLD_RANKS", "0").split(","):
            self._hold()
        if self.global_rank == self.fail_rank and self.global_step == 2:
            raise ValueError(f"boom on rank {self.global_rank}")
        x, y = b
        loss = F.mse_loss(self.l2(torch.tanh(self.l1(x))), y)
        self.log("train_loss", loss, on_step=False, on_epoch=True, sync_dist=True)
        self.log("rank_value", float(self.global_rank), on_step=False, on_epoch=True, sync_dist=True)
        return loss

    def _hold(self):
        open(os.path.join(out_dir, f"holding{self.global_rank}"), "w").close()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            vote = self.trainer._stop_vote  # the rank's own SignalGuard notes the signal; the ranks agree later
            if vote is not None and vote.guard.noted:
                return
            time.sleep(0.005)
        raise RuntimeError(f"ddp_script.py: rank {self.global_rank} held in step {self.global_step} for 120 s and "
                           "no signal came")

    def validation_step(self, b, i):
        x, y = b
        self.log("val_loss", F.mse_loss(self.l2(torch.tanh(self.l1(x))), y), sync_dist=True)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.05)


g = torch.Generator().manual_seed(1)
data = TensorDataset(torch.randn(64, 8, generator=g), torch.randn(64, 1, generator=g))
kwargs = dict(max_epochs=2, accelerator="cpu", devices=devices, enable_progress_bar=False,
              enable_model_summary=False, default_root_dir=out_dir,
              fused_optimizer=os.environ.get("TEST_FUSED") == "1", async_checkpoint=os.environ.get("TEST_ASYNC") == "1",
              gradient_clip_val=float(os.environ["TEST_CLIP"]) if os.environ.get("TEST_CLIP") else None)
if mode == "resume":
    kwargs["max_epochs"] = 3
model = Net(fail_rank=int(os.environ.get("TEST_FAIL_RANK", "-1")))
trainer = pl.Trainer(**kwargs)
ckpt = os.environ.get("TEST_CKPT") or None
trainer.fit(model, DataLoader(data, batch_size=batch), DataLoader(data, batch_size=batch), ckpt_path=ckpt)
result = {
    "rank": trainer.global_rank, "world_size": trainer.world_size, "global_step": trainer.global_step,
    "epoch": trainer.current_epoch,
    "weights": [p.detach().flatten().tolist() for p in model.parameters()],
    "metrics": {k: float(v) for k, v in trainer.callback_metrics.items()},
    "best": trainer.checkpoint_callback.best_model_path,
    "grad_norm": float(getattr(trainer.optimizers[0], "last_grad_norm", None) or -1.0),
}
with open(os.path.join(out_dir, f"rank{trainer.global_rank}.json"), "w") as f:
    json.dump(result, f)
