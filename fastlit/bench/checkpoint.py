"""The ``checkpoint`` suite: how long a save blocks training, how fast the background write is, and what periodic
async checkpoints cost a training loop.

Per state-dict size (default 200 MB and 1 GB of float32 tensors), interleaved in one run:
  * ``torch_save``    plain ``torch.save(path)`` (what Lightning's TorchCheckpointIO does; no fsync)
  * ``sync_durable``  fastlit's synchronous save: temp file + fsync + rename + directory fsync
  * ``clone_thread``  Lightning's AsyncCheckpointIO approach: ``clone()`` every tensor, then ``torch.save`` in a
                      one-worker thread pool
  * ``fastlit_async`` ``AsyncCheckpointIO.save_checkpoint`` called directly: everything is copied into reused
                      staging buffers before it returns (eager), C++ writer thread (durable)
  * ``disk``          the disk's sequential write bandwidth: a large O_DIRECT write + fsync in the same directory
``blocked_ms`` is the time the calling (training) thread spends in the save call; ``done_ms`` the time until the
file is complete (durable for the two durable variants); ``write_mbs`` is the write throughput: bytes / done for
the synchronous variants, bytes / (done - blocked) — the background part — for the two async ones.

The training-loop part fits an MLP with Adam (~200 MB checkpoint) and ``ModelCheckpoint(every_n_train_steps=N)``
with no checkpoints, synchronous ones and async ones (where ModelCheckpoint's saves defer the parameter and
optimizer-state copy to the stager thread), and reports ms per step and how long each async save blocked the
training thread, against ``torch.save`` of the same checkpoint.
"""
from __future__ import annotations

import mmap
import os
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Optional

import torch

from fastlit.bench import timing

LABELS = {
    "torch_save": "torch.save (no fsync)",
    "sync_durable": "fastlit sync (tmp+fsync+rename)",
    "clone_thread": "clone() + thread pool (Lightning)",
    "fastlit_async": "fastlit AsyncCheckpointIO",
}


def make_state(mb: int, seed: int = 0) -> dict[str, Any]:
    """A checkpoint-like dict with ``mb`` MiB of float32: 4 MiB matrices plus a small bias per matrix."""
    g = torch.Generator().manual_seed(seed)
    sd: dict[str, torch.Tensor] = {}
    n = max(1, mb // 4)
    for i in range(n):
        sd[f"layers.{i}.weight"] = torch.empty(1024, 1024).uniform_(generator=g)
        sd[f"layers.{i}.bias"] = torch.empty(1024).uniform_(generator=g)
    return {"epoch": 0, "global_step": 0, "state_dict": sd, "pytorch-lightning_version": "2.6.6"}


def nbytes_of(state: dict[str, Any]) -> int:
    return sum(t.numel() * t.element_size() for t in state["state_dict"].values())


def disk_bandwidth(directory: str, nbytes: int = 1 << 30, block: int = 8 << 20) -> float:
    """MB/s of a sequential O_DIRECT write of ``nbytes`` + fsync (buffered + fsync where O_DIRECT is refused)."""
    path = os.path.join(directory, ".fastlit-disk-probe")
    buf = mmap.mmap(-1, block)  # page aligned, as O_DIRECT needs
    buf.write(os.urandom(4096) * (block // 4096))
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    try:
        fd = os.open(path, flags | getattr(os, "O_DIRECT", 0))
    except OSError:
        fd = os.open(path, flags)
    try:
        t0 = time.perf_counter()
        for _ in range(nbytes // block):
            os.write(fd, buf)
        os.fsync(fd)
        return nbytes / (time.perf_counter() - t0) / 1e6
    finally:
        os.close(fd)
        os.unlink(path)
        buf.close()


def _variants(state: dict[str, Any], directory: str, backend: str) -> dict[str, Callable[[], tuple[float, float]]]:
    from fastlit.checkpoint.async_io import AsyncCheckpointIO
    from fastlit.checkpoint.io import atomic_save

    def timed(save: Callable[[], Any], finish: Callable[[Any], None]) -> tuple[float, float]:
        os.sync()  # the previous variant's dirty pages must not compete for the disk in this one's measurement
        t0 = time.perf_counter()
        handle = save()
        t1 = time.perf_counter()
        finish(handle)
        return t1 - t0, time.perf_counter() - t0

    def path(name: str) -> str:
        return os.path.join(directory, f"{name}.ckpt")

    pool = ThreadPoolExecutor(max_workers=1)

    def clone_submit() -> Any:
        snap = {**state, "state_dict": {k: v.detach().clone() for k, v in state["state_dict"].items()}}
        return pool.submit(torch.save, snap, path("clone_thread"))

    ckio = AsyncCheckpointIO(backend=backend)
    return {
        "torch_save": lambda: timed(lambda: torch.save(state, path("torch_save")), lambda _: None),
        "sync_durable": lambda: timed(lambda: atomic_save(state, path("sync_durable")), lambda _: None),
        "clone_thread": lambda: timed(clone_submit, lambda fut: fut.result()),
        "fastlit_async": lambda: timed(lambda: ckio.save_checkpoint(state, path("fastlit_async")), lambda _: ckio.wait()),
        "_io": ckio,  # type: ignore[dict-item]
    }


def run_size(mb: int, directory: str, repeats: int = 3, backend: str = "auto") -> dict[str, Any]:
    """Blocked time, time to done and background throughput of each variant for one state size."""
    state = make_state(mb)
    nbytes = nbytes_of(state)
    variants = _variants(state, directory, backend)
    ckio = variants.pop("_io")
    disk: list[float] = []

    def measure_disk() -> tuple[float, float]:
        os.sync()
        disk.append(disk_bandwidth(directory, nbytes=max(256 << 20, nbytes)))
        return 0.0, 0.0

    variants["disk"] = measure_disk  # type: ignore[assignment]
    try:
        samples = timing.interleave(variants, repeats=repeats, warmup=1)  # warm-up: first-touch of staging etc.
        staging = ckio.staging_bytes
        writer = type(ckio._writer).__name__ if ckio._writer is not None else "?"
    finally:
        ckio.teardown()
        for f in os.listdir(directory):
            if f.endswith(".ckpt"):
                os.remove(os.path.join(directory, f))
    rows = []
    for name in LABELS:
        blocked = timing.summarize([b for b, _ in samples[name]])
        done = timing.summarize([d for _, d in samples[name]])
        background = name in ("clone_thread", "fastlit_async")
        write_s = timing.summarize([d - b if background else d for b, d in samples[name]])["median"]
        rows.append({"variant": name, "label": LABELS[name], "blocked_ms": blocked["median"] * 1e3,
                     "blocked_min_ms": blocked["min"] * 1e3, "blocked_max_ms": blocked["max"] * 1e3,
                     "done_ms": done["median"] * 1e3, "write_mbs": nbytes / 1e6 / write_s if write_s > 0 else None})
    by = {r["variant"]: r for r in rows}
    disk_mbs = timing.summarize(disk[1:] or disk)["median"]
    return {
        "mb": mb, "bytes": nbytes, "tensors": len(state["state_dict"]), "repeats": repeats, "rows": rows,
        "disk_mbs": disk_mbs, "staging_bytes": staging, "writer": writer,
        "blocked_vs_torch_save": by["fastlit_async"]["blocked_ms"] / by["torch_save"]["blocked_ms"],
        "blocked_vs_clone_thread": by["fastlit_async"]["blocked_ms"] / by["clone_thread"]["blocked_ms"],
        "write_vs_disk": (by["fastlit_async"]["write_mbs"] or 0.0) / disk_mbs,
    }


class _MarkingSampler:
    """Batches of indices in order; notes the time when batch ``mark`` is drawn. The loop fetches one batch
    ahead, so that is when step ``mark - 1`` starts. A sampler rather than a callback hook: a user hook makes
    deferred checkpoint staging fence early, and the clock must not change what it measures."""

    def __init__(self, n: int, batch: int, mark: int, at_mark: Callable[[], None]) -> None:
        self.n, self.batch, self.mark, self.at_mark = n, batch, mark, at_mark

    def __len__(self) -> int:
        return self.n // self.batch

    def __iter__(self) -> Any:
        for i in range(len(self)):
            if i == self.mark:
                self.at_mark()
            yield list(range(i * self.batch, (i + 1) * self.batch))


def run_training(directory: str, steps: int = 45, every: int = 10, hidden: int = 1024, layers: Optional[int] = None,
                 batch: int = 64, repeats: int = 3, backend: str = "auto", mb: int = 200) -> dict[str, Any]:
    """ms/step of an MLP + Adam fit with ModelCheckpoint every ``every`` steps: none vs sync vs async.

    ``layers`` defaults to what makes an ``mb`` MiB checkpoint (weights + Adam's two moments). Steady state:
    the clock starts after the first checkpoint (whose staging buffers are allocated and touched for the first
    time) and stops when the last step ends, before ``fit`` waits for the last write. Also per save, in that
    window: the time the training thread was blocked by the async plugin (its save call plus the waits for
    deferred copies before optimizer steps), against ``torch.save`` of the same checkpoint timed in the same run.
    """
    import fastlit
    from fastlit.callbacks import Callback, ModelCheckpoint
    from fastlit.checkpoint.async_io import AsyncCheckpointIO
    from fastlit.checkpoint.connector import dump_checkpoint
    from torch.utils.data import DataLoader, TensorDataset

    class MLP(fastlit.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.net = torch.nn.Sequential(*[torch.nn.Linear(hidden, hidden) for _ in range(layers)])

        def training_step(self, b: Any, i: int) -> torch.Tensor:
            return self.net(b[0]).pow(2).mean()

        def configure_optimizers(self) -> Any:
            return torch.optim.Adam(self.parameters(), lr=1e-4)

    if layers is None:
        layers = max(1, round(mb * 2**20 / (12 * (hidden * hidden + hidden))))
    start = every + 1  # the first timed step: after the first checkpoint
    blocked: dict[str, list[float]] = {"async": []}
    ref_save: list[float] = []

    def fit(mode: str) -> Callable[[], float]:
        def go() -> float:
            root = os.path.join(directory, mode)
            io = AsyncCheckpointIO(backend=backend) if mode == "async" else None
            mark: dict[str, float] = {}

            def at_mark() -> None:
                mark["t0"] = time.perf_counter()
                mark["blocked"], mark["saves"] = (io.blocked_s, io.num_saves) if io else (0.0, 0)

            class End(Callback):
                def on_train_end(self, trainer: Any, *args: Any) -> None:
                    mark["t1"] = time.perf_counter()
                    if io is not None and io.num_saves > mark["saves"]:
                        blocked["async"].append((io.blocked_s - mark["blocked"]) / (io.num_saves - mark["saves"]))

            cbs: list[Any] = [End()]
            if mode != "none":
                cbs.append(ModelCheckpoint(dirpath=root, every_n_train_steps=every, save_top_k=1))
            data = DataLoader(TensorDataset(torch.randn(batch * steps, hidden)),
                              batch_sampler=_MarkingSampler(batch * steps, batch, start + 1, at_mark))
            torch.manual_seed(0)
            trainer = fastlit.Trainer(max_steps=steps, logger=False, enable_progress_bar=False,
                                      enable_model_summary=False, enable_checkpointing=mode != "none",
                                      callbacks=cbs, plugins=[io] if io else None, default_root_dir=root,
                                      fused_optimizer=False)
            trainer.fit(MLP(), data)
            if mode == "none":  # the reference: torch.save of this run's final checkpoint, in this same round
                ck = dump_checkpoint(trainer, False)
                os.sync()
                t0 = time.perf_counter()
                torch.save(ck, os.path.join(directory, "torch_save.ckpt"))
                ref_save.append(time.perf_counter() - t0)
                os.remove(os.path.join(directory, "torch_save.ckpt"))
            shutil.rmtree(root, ignore_errors=True)
            return (mark["t1"] - mark["t0"]) / (trainer.global_step - start)

        return go

    samples = timing.interleave({m: fit(m) for m in ("none", "sync", "async")}, repeats=repeats, warmup=1)
    params = layers * (hidden * hidden + hidden)
    ms = {m: timing.summarize(v)["median"] * 1e3 for m, v in samples.items()}
    paired = [a / n for a, n in zip(samples["async"], samples["none"])]  # same round, same machine state
    # [0] is the warm-up round's
    blocked_ms = timing.summarize(blocked["async"][1:] or blocked["async"])["median"] * 1e3 if blocked["async"] else 0.0
    ref_ms = timing.summarize(ref_save[1:] or ref_save)["median"] * 1e3
    return {"steps": steps, "every": every, "timed_from": start, "params": params,
            "state_mb": params * 4 * 3 / 2**20, "ms_per_step": ms,
            "min_ms_per_step": {m: timing.summarize(v)["min"] * 1e3 for m, v in samples.items()},
            "spread": {m: timing.summarize(v)["spread"] for m, v in samples.items()},
            "async_vs_none": ms["async"] / ms["none"], "sync_vs_none": ms["sync"] / ms["none"],
            "async_vs_none_paired": timing.summarize(paired)["median"],
            "blocked_ms_per_save": blocked_ms, "torch_save_ms": ref_ms,
            "blocked_vs_torch_save": blocked_ms / ref_ms if ref_ms else float("nan")}


def run(sizes_mb: tuple[int, ...] = (200, 1024), repeats: int = 3, directory: Optional[str] = None,
        training: bool = True, backend: str = "auto", threads: Optional[int] = None) -> dict[str, Any]:
    """The suite. ``directory`` is where files go (default: a temp dir under the current directory, so the disk
    measured is the one checkpoints normally land on). The training-loop part runs once per size: 45 steps with
    a checkpoint every 10 up to 256 MiB, 16 steps with one every 5 above (a step of the 1 GB model takes ~0.6 s
    on the dev VM)."""
    prev = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    d = tempfile.mkdtemp(prefix=".fastlit-bench-ckpt-", dir=directory or os.getcwd())
    try:
        sizes = [run_size(mb, d, repeats, backend) for mb in sizes_mb]
        train = [run_training(d, *((45, 10) if mb <= 256 else (16, 5)), repeats=repeats, backend=backend, mb=mb)
                 for mb in sizes_mb] if training else []
    finally:
        shutil.rmtree(d, ignore_errors=True)
        torch.set_num_threads(prev)
    ratios = {}
    for s in sizes:
        ratios[f"checkpoint.{s['mb']}MB.blocked_vs_torch_save"] = s["blocked_vs_torch_save"]
        ratios[f"checkpoint.{s['mb']}MB.disk_vs_write"] = 1 / s["write_vs_disk"] if s["write_vs_disk"] else float("inf")
    for mb, t in zip(sizes_mb, train):
        ratios[f"checkpoint.train{mb}MB.async_vs_none"] = t["async_vs_none"]
        ratios[f"checkpoint.train{mb}MB.blocked_vs_torch_save"] = t["blocked_vs_torch_save"]
    return {"directory": d, "sizes": sizes, "training": train, "ratios": ratios}


def format_table(result: dict[str, Any]) -> str:
    lines = []
    for s in result["sizes"]:
        lines.append(f"checkpoint {s['mb']} MB ({s['tensors']} tensors), median of {s['repeats']}; disk O_DIRECT "
                     f"{s['disk_mbs']:.0f} MB/s; writer {s['writer']}, staging {s['staging_bytes'] / 2**20:.0f} MiB")
        lines.append(f"  {'variant':<36}{'blocked ms':>12}{'(min-max)':>16}{'done ms':>10}{'write MB/s':>12}")
        for r in s["rows"]:
            mbs = f"{r['write_mbs']:.0f}" if r["write_mbs"] else "-"
            lines.append(f"  {r['label']:<36}{r['blocked_ms']:>12.1f}{r['blocked_min_ms']:>8.1f}-{r['blocked_max_ms']:<7.1f}"
                         f"{r['done_ms']:>10.0f}{mbs:>12}")
        lines.append(f"  async blocked = {s['blocked_vs_torch_save'] * 100:.1f}% of torch.save, "
                     f"{s['blocked_vs_clone_thread'] * 100:.1f}% of clone+thread; background write = "
                     f"{s['write_vs_disk'] * 100:.0f}% of disk bandwidth")
    train = result.get("training") or []
    for t in [train] if isinstance(train, dict) else train:
        ms = t["ms_per_step"]
        lines.append(f"training loop: MLP {t['params'] / 1e6:.1f}M params + Adam (~{t['state_mb']:.0f} MiB checkpoint), "
                     f"{t['steps']} steps (timed from step {t['timed_from']}), ModelCheckpoint every {t['every']} steps")
        lo = t["min_ms_per_step"]
        lines.append(f"  ms/step, median: none {ms['none']:.1f}, sync {ms['sync']:.1f} ({t['sync_vs_none']:.3f}x), "
                     f"async {ms['async']:.1f} ({t['async_vs_none']:.3f}x)")
        lines.append(f"  ms/step, best run: none {lo['none']:.1f}, sync {lo['sync']:.1f} ({lo['sync'] / lo['none']:.3f}x), "
                     f"async {lo['async']:.1f} ({lo['async'] / lo['none']:.3f}x); async/none paired by round: "
                     f"{t['async_vs_none_paired']:.3f}x")
        lines.append(f"  training thread blocked per async save: {t['blocked_ms_per_save']:.1f} ms = "
                     f"{t['blocked_vs_torch_save'] * 100:.1f}% of torch.save of the same checkpoint "
                     f"({t['torch_save_ms']:.0f} ms)")
    return "\n".join(lines)
