"""kill -9 harness: training with periodic checkpoints is SIGKILLed 20 times at seeded random moments (some in
the middle of a checkpoint write); after each kill every ``.ckpt`` on disk loads, the killed writers' temp files
do not pile up (the next life's ModelCheckpoint removes them), and resuming from the newest one after the last
kill reaches exactly the weights of a run that was never killed.

Children are forked from the test process (imports already done) so 20 lives fit in a few seconds.
"""
import io
import multiprocessing as mp
import os
import random
import re
import time

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

import fastlit as pl
from fastlit.callbacks import ModelCheckpoint
from fastlit.checkpoint.io import load
from waits import wait_until

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
EPOCHS, EVERY = 20, 2  # 16 batches an epoch: 320 steps, a checkpoint every 2 steps


class Net(pl.LightningModule):
    def __init__(self, sleep: float) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(8, 4)
        self.sleep = sleep

    def training_step(self, batch, batch_idx):
        if self.sleep:
            time.sleep(self.sleep)
        x, y = batch
        return torch.nn.functional.mse_loss(self.layer(x), y)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.05, momentum=0.9)


def _data() -> DataLoader:
    g = torch.Generator().manual_seed(0)
    return DataLoader(TensorDataset(torch.randn(64, 8, generator=g), torch.randn(64, 4, generator=g)), batch_size=4)


def newest(ckpt_dir: str):
    best = None
    for name in os.listdir(ckpt_dir) if os.path.isdir(ckpt_dir) else []:
        m = re.fullmatch(r"epoch=(\d+)-step=(\d+)\.ckpt", name)
        if m and (best is None or int(m.group(2)) > best[0]):
            best = (int(m.group(2)), os.path.join(ckpt_dir, name))
    return best[1] if best else None


def _held_until_killed(marker: str) -> None:
    """Tells the parent (``marker``) that this child is at the point to kill it, and stays there: the parent's
    SIGKILL ends it. A child that is never killed fails after 300 s instead of carrying on."""
    open(marker, "w").close()
    time.sleep(300)
    os._exit(3)  # (exit code 3, not -9: the parent's checks fail with the reason)


def _slow_writes(marker: str, mode: str, nth: int) -> None:
    """Make this child's ``nth`` checkpoint write stop at a known point (so the parent kills it there)."""
    calls = [0]

    def hit() -> bool:
        calls[0] += 1
        return calls[0] == nth

    if mode == "mid-data":
        real_save = torch.save

        def save(obj, f, *a, **k):
            if not hit():
                return real_save(obj, f, *a, **k)
            buf = io.BytesIO()
            real_save(obj, buf, *a, **k)
            data = buf.getvalue()
            f.write(data[: len(data) // 2])
            f.flush()
            _held_until_killed(marker)

        torch.save = save
    else:  # "before-rename": the temp file is complete but not yet renamed over the target
        real_replace = os.replace

        def replace(src, dst, *a, **k):
            if not hit():
                return real_replace(src, dst, *a, **k)
            _held_until_killed(marker)

        os.replace = replace


class _Started(pl.Callback):
    def __init__(self, path: str) -> None:
        self.path = path

    def on_train_start(self, trainer, pl_module):
        open(self.path, "w").close()


def _child(root: str, sleep: float, slow: str, marker: str, nth: int) -> None:
    torch.set_num_threads(1)
    if slow:
        _slow_writes(marker, slow, nth)
    ckpt_dir = os.path.join(root, "ckpts")
    torch.manual_seed(0)
    model = Net(sleep)
    cb = ModelCheckpoint(dirpath=ckpt_dir, every_n_train_steps=EVERY, save_top_k=-1, filename="{epoch}-{step}")
    trainer = pl.Trainer(default_root_dir=root, max_epochs=EPOCHS, logger=False, enable_progress_bar=False,
                         enable_model_summary=False, callbacks=[cb, _Started(marker + ".started")],
                         num_sanity_val_steps=0)
    trainer.fit(model, _data(), ckpt_path=newest(ckpt_dir))
    torch.save(model.state_dict(), os.path.join(root, "final.pt"))


def _start(root: str, sleep: float = 0.0, slow: str = "", marker: str = "", nth: int = 0):
    p = mp.get_context("fork").Process(target=_child, args=(root, sleep, slow, marker or os.path.join(root, "m"), nth))
    p.start()
    return p


def _join(p, timeout: float, what: str) -> None:
    """Waits for a child to exit; one still running after ``timeout`` s is killed and fails the test."""
    p.join(timeout)
    if p.is_alive():
        p.kill()
        p.join(30)
        raise AssertionError(f"{what}: the child did not exit within {timeout:g} s (killed)")


def _check_all_load(ckpt_dir: str) -> int:
    names = [n for n in os.listdir(ckpt_dir) if n.endswith(".ckpt")] if os.path.isdir(ckpt_dir) else []
    for n in names:
        ck = load(os.path.join(ckpt_dir, n))  # raises on a partial/corrupt file
        assert "state_dict" in ck and "optimizer_states" in ck, n
    return len(names)


def _temp_files(ckpt_dir: str, pid: int = 0) -> list:
    """Checkpoint writers' temp files (``.<name>.tmp-<pid>-<n>``), of ``pid`` only if given."""
    pat = re.compile(r"\..+\.ckpt\.tmp-(\d+)(-\d+)?")
    names = os.listdir(ckpt_dir) if os.path.isdir(ckpt_dir) else []
    return sorted(n for n in names if (m := pat.fullmatch(n)) and (not pid or int(m.group(1)) == pid))


def test_kill9_twenty_times_then_resume_matches(tmp_path):
    rng = random.Random(1234)
    ref_root = str(tmp_path / "ref")
    os.makedirs(ref_root)
    p = _start(ref_root)
    _join(p, 120, "the reference run")
    assert p.exitcode == 0
    ref = torch.load(os.path.join(ref_root, "final.pt"))

    root = str(tmp_path / "run")
    ckpt_dir = os.path.join(root, "ckpts")
    kinds = {"random": 0, "mid-data": 0, "before-rename": 0}
    for i in range(20):
        kind = rng.choice(["random", "random", "mid-data", "before-rename"])
        marker = os.path.join(root, f"writing-{i}")
        os.makedirs(root, exist_ok=True)
        p = _start(root, sleep=0.01, slow="" if kind == "random" else kind, marker=marker, nth=rng.randint(2, 4))
        if kind == "random":  # anywhere: in a step, in a hook, in a write (a seeded moment after fit started)
            wait_until(lambda: os.path.exists(marker + ".started"), 60, f"kill {i}: the child to start training",
                       proc=p, interval=0.002)
            time.sleep(rng.uniform(0.0, 0.15))
            assert p.is_alive(), f"kill {i}: the run ended (exit code {p.exitcode}) before it could be killed"
        else:  # the child stops inside its nth write and stays there until killed
            wait_until(lambda: os.path.exists(marker), 60, f"kill {i}: the child to reach its checkpoint write",
                       proc=p, interval=0.002)
        p.kill()  # SIGKILL
        _join(p, 30, f"kill {i}")
        assert p.exitcode == -9, f"kill {i}: exit code {p.exitcode}"
        kinds[kind] += 1
        _check_all_load(ckpt_dir)
        if kind != "random":  # killed inside a write: its temp file stays behind (until the next run's setup)
            assert _temp_files(ckpt_dir, p.pid), f"kill {i}: no temp file of the killed writer"
        # earlier lives' temp files were removed by this life's ModelCheckpoint.setup: they do not pile up
        assert _temp_files(ckpt_dir) == _temp_files(ckpt_dir, p.pid), f"kill {i}: stale temp files left"
        assert not os.path.exists(os.path.join(root, "final.pt"))
    assert kinds["mid-data"] and kinds["before-rename"] and kinds["random"], kinds
    n_ckpts = _check_all_load(ckpt_dir)
    assert n_ckpts > 0
    # the newest checkpoint resumes to the exact weights of the run that was never killed
    p = _start(root)
    _join(p, 120, "the final run")
    assert p.exitcode == 0
    final = torch.load(os.path.join(root, "final.pt"))
    for k in ref:
        assert torch.equal(final[k], ref[k]), k
    assert _temp_files(ckpt_dir) == []
