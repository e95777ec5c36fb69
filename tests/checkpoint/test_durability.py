"""Every checkpoint writer is durable: the temp file is fsynced complete, then renamed over the target, then the
directory is fsynced, in that order, for every file written.

kill -9 keeps the page cache, so the crash tests cannot see a missing fsync; these tests watch the calls instead:
``os.fsync``/``os.replace`` spied on for the Python writers (sync ``save_checkpoint``, the thread fallback of
``AsyncCheckpointIO``), and ``strace`` on a subprocess for the C++ writer (which never calls into Python).
"""
from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
import textwrap
import threading

import pytest
import torch

import fastlit
from fastlit.callbacks import ModelCheckpoint
from fastlit.checkpoint.io import TorchCheckpointIO, atomic_save
from fastlit.plugins import AsyncCheckpointIO
from helpers import find_files, models, quiet, randn_loader

REPO = os.path.dirname(os.path.dirname(os.path.abspath(fastlit.__file__)))

# Events, in the order they happened:
#   ("sync", path, size)          fsync/fdatasync of an fd open on path (size: the file's size then, None if unknown)
#   ("rename", src, dst, size)    rename of src over dst (size: of src just before, None if unknown)
#   ("write", path)               a write to an fd open on path (strace only)


def _describe(events: list) -> str:
    return "\n".join("  " + " ".join(str(x) for x in e) for e in events[-40:]) or "  (no events)"


def assert_durable(events: list, target: str) -> None:
    """Each time ``target`` was written: its temp file (same directory) was fsynced complete, then renamed over
    it, then the directory was fsynced before the next rename into that directory."""
    target = os.path.abspath(target)
    d = os.path.dirname(target)
    renames = [i for i, e in enumerate(events) if e[0] == "rename" and e[2] == target]
    assert renames, f"{target} was never renamed into place; events:\n{_describe(events)}"
    for r in renames:
        tmp, size = events[r][1], events[r][3]
        assert tmp != target and os.path.dirname(tmp) == d, f"temp file {tmp} not beside {target}"
        syncs = [i for i in range(r) if events[i][0] == "sync" and events[i][1] == tmp]
        assert syncs, f"{tmp} was renamed over {target} without an fsync of the temp file before; events:\n" \
                      f"{_describe(events[:r + 1])}"
        last_sync = syncs[-1]
        writes = [i for i in range(r) if events[i][0] == "write" and events[i][1] == tmp]
        assert not writes or writes[-1] < last_sync, f"{tmp} was written to after its fsync"
        if size is not None and events[last_sync][2] is not None:
            assert events[last_sync][2] == size, f"{tmp} had {events[last_sync][2]} bytes at fsync, {size} at rename"
        nxt = next((i for i in range(r + 1, len(events))
                    if events[i][0] == "rename" and os.path.dirname(events[i][2]) == d), len(events))
        assert any(events[i][0] == "sync" and events[i][1] == d for i in range(r + 1, nxt)), \
            f"directory {d} not fsynced after {tmp} was renamed over {target}; events:\n{_describe(events[r:nxt])}"


def test_assert_durable_rejects_each_broken_order(tmp_path):
    """The checker itself: a correct sequence passes; each missing or misplaced step fails."""
    d = str(tmp_path)
    tmp, tgt = os.path.join(d, ".a.ckpt.tmp-1-0"), os.path.join(d, "a.ckpt")
    good = [("write", tmp), ("sync", tmp, 10), ("rename", tmp, tgt, 10), ("sync", d, None)]
    assert_durable(good, tgt)
    broken = {
        "no file fsync": [good[0], good[2], good[3]],
        "no directory fsync": good[:3],
        "directory fsync before rename": [good[0], good[1], good[3], good[2]],
        "file fsync after rename": [good[0], good[2], good[1], good[3]],
        "write after fsync": [good[1], good[0], good[2], good[3]],
        "fsync of an incomplete file": [good[0], ("sync", tmp, 5), good[2], good[3]],
        "no rename": [good[0], good[1], good[3]],
    }
    for why, events in broken.items():
        with pytest.raises(AssertionError):
            assert_durable(events, tgt)
            pytest.fail(why)


# ----------------------------------------------------------------------------------------------- Python writers
@pytest.fixture
def spy(monkeypatch):
    """Records ``os.fsync`` (with the fd's path and size) and ``os.replace``/``os.rename`` from every thread."""
    events: list = []
    lock = threading.Lock()
    real_fsync, real_replace, real_rename = os.fsync, os.replace, os.rename

    def fsync(fd):
        fd_num = fd if isinstance(fd, int) else fd.fileno()
        path = os.readlink(f"/proc/self/fd/{fd_num}")
        st = os.fstat(fd_num)
        real_fsync(fd)
        with lock:
            events.append(("sync", path, st.st_size if stat.S_ISREG(st.st_mode) else None))

    def renamer(real):
        def rename(src, dst, *a, **k):
            src, dst = os.path.abspath(os.fspath(src)), os.path.abspath(os.fspath(dst))
            size = os.stat(src).st_size
            real(src, dst, *a, **k)
            with lock:
                events.append(("rename", src, dst, size))
        return rename

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", renamer(real_replace))
    monkeypatch.setattr(os, "rename", renamer(real_rename))
    return events


def test_atomic_save_and_checkpoint_io_are_durable(tmp_path, spy):
    atomic_save({"w": torch.ones(100)}, tmp_path / "a.ckpt")
    TorchCheckpointIO().save_checkpoint({"w": torch.ones(1000)}, tmp_path / "sub" / "b.ckpt")
    TorchCheckpointIO().save_checkpoint({"w": torch.zeros(10)}, tmp_path / "a.ckpt")  # overwrite
    assert sum(e[0] == "rename" for e in spy) == 3
    assert_durable(spy, str(tmp_path / "a.ckpt"))
    assert_durable(spy, str(tmp_path / "sub" / "b.ckpt"))
    assert torch.load(tmp_path / "a.ckpt", weights_only=True)["w"].numel() == 10


def _fit(root: str, **kw) -> fastlit.Trainer:
    cb = ModelCheckpoint(dirpath=os.path.join(root, "ck"), monitor="val_loss", save_top_k=-1, save_last=True)
    trainer = fastlit.Trainer(**quiet(default_root_dir=root, max_epochs=2, logger=False, callbacks=[cb],
                                      num_sanity_val_steps=0, **kw))
    trainer.fit(models(fastlit).BoringModel(), randn_loader(8), randn_loader(8))
    return trainer


def test_trainer_sync_saves_are_durable(tmp_path, spy):
    trainer = _fit(str(tmp_path))
    trainer.save_checkpoint(str(tmp_path / "manual.ckpt"))
    written = find_files(str(tmp_path), ".ckpt")
    assert written == ["ck/epoch=0-step=2.ckpt", "ck/epoch=1-step=4.ckpt", "ck/last.ckpt", "manual.ckpt"]
    for f in written:
        assert_durable(spy, str(tmp_path / f))
    assert sum(e[0] == "rename" and e[2].endswith("last.ckpt") for e in spy) == 2  # each rewrite checked


def test_thread_fallback_writer_is_durable(tmp_path, spy):
    io = AsyncCheckpointIO(backend="thread")
    io.save_checkpoint({"w": torch.randn(1000)}, tmp_path / "x.ckpt")
    io.save_checkpoint({"w": torch.randn(10)}, tmp_path / "d" / "y.ckpt")
    io.teardown()
    assert_durable(spy, str(tmp_path / "x.ckpt"))
    assert_durable(spy, str(tmp_path / "d" / "y.ckpt"))
    # inside a fit (what Trainer(async_checkpoint=True) does without the extension)
    io = AsyncCheckpointIO(backend="thread")
    _fit(str(tmp_path / "fit"), plugins=[io])
    assert io.num_saves == 4
    written = find_files(str(tmp_path / "fit"), ".ckpt")
    assert len(written) == 3
    for f in written:
        assert_durable(spy, str(tmp_path / "fit" / f))


# ----------------------------------------------------------------------------------------------- C++ writer
_CHILD = textwrap.dedent("""
    import sys, torch, fastlit
    from fastlit.callbacks import ModelCheckpoint
    from fastlit.plugins import AsyncCheckpointIO
    root = sys.argv[1]
    torch.set_num_threads(1)
    io = AsyncCheckpointIO(backend="native")  # the C++ writer or an error, never the thread fallback
    io.save_checkpoint({"big": torch.randn(1 << 19), "small": torch.ones(3)}, root + "/direct/a.ckpt")  # O_DIRECT part
    io.save_checkpoint({"w": torch.ones(3)}, root + "/direct/b.ckpt")
    io.teardown()

    class M(fastlit.LightningModule):
        def __init__(self):
            super().__init__()
            self.layer = torch.nn.Linear(4, 1)
        def training_step(self, batch, i):
            return self.layer(batch[0]).pow(2).mean()
        def validation_step(self, batch, i):
            self.log("val_loss", self.layer(batch[0]).pow(2).mean())
        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)

    dl = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.randn(8, 4)), batch_size=4)
    io = AsyncCheckpointIO(backend="native")
    cb = ModelCheckpoint(dirpath=root + "/fit", monitor="val_loss", save_top_k=-1, save_last=True)
    trainer = fastlit.Trainer(max_epochs=2, plugins=[io], callbacks=[cb], logger=False, enable_progress_bar=False,
                              enable_model_summary=False, num_sanity_val_steps=0, default_root_dir=root)
    trainer.fit(M(), dl, dl)
    print("saves", io.num_saves, "deferred", io.num_deferred)
""")

_STRING = re.compile(r'"((?:[^"\\]|\\.)*)"')
_FD_PATH = re.compile(r"^\s*-?\d+<([^>]*)>")


def _strace_events(log: str, cwd: str) -> list:
    """Events from ``strace -f -y`` output (unfinished/resumed calls joined; failed calls dropped)."""
    events, pending = [], {}
    for line in log.splitlines():
        m = re.match(r"^(\d+)\s+(.*)$", line)
        if not m:
            continue
        pid, rest = m.groups()
        if rest.startswith("<..."):
            r = re.match(r"<\.\.\. (\w+) resumed>(.*)$", rest)
            if not r or pid not in pending:
                continue
            name, args = pending.pop(pid)
            call = (name, args + r.group(2))
        elif rest.endswith("<unfinished ...>"):
            c = re.match(r"(\w+)\((.*)<unfinished \.\.\.>$", rest)
            if c:
                pending[pid] = (c.group(1), c.group(2))
            continue
        else:
            c = re.match(r"(\w+)\((.*)$", rest)
            if not c:
                continue  # signals, exits
            call = c.groups()
        name, text = call
        result = re.search(r"\)\s+=\s+(-?\d+)", text)
        if not result or int(result.group(1)) < 0:
            continue
        if name in ("fsync", "fdatasync", "write", "pwrite64", "writev", "pwritev", "pwritev2"):
            fd = _FD_PATH.match(text)
            if fd:
                events.append(("sync", fd.group(1), None) if "sync" in name else ("write", fd.group(1)))
        elif name.startswith("rename"):
            src, dst = [os.path.join(cwd, s) for s in _STRING.findall(text)[:2]]
            events.append(("rename", src, dst, None))
    return events


def test_native_async_writer_is_durable_strace(tmp_path):
    """The C++ writer (direct saves and deferred ModelCheckpoint saves inside a fit) seen by strace."""
    from fastlit.checkpoint.async_io import _native_class

    cls, why = _native_class()
    assert cls is not None, f"the C++ checkpoint writer must be built for this test: {why}"
    strace = shutil.which("strace")
    assert strace, "strace is required to check the C++ writer's fsync/rename order: apt-get install strace"
    log = tmp_path / "strace.log"
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""), OMP_NUM_THREADS="1")
    cmd = [strace, "-f", "-y", "-s", "4096", "-qq", "--seccomp-bpf", "-o", str(log),
           "-e", "trace=fsync,fdatasync,rename,renameat,renameat2,write,pwrite64,writev,pwritev,pwritev2",
           sys.executable, "-c", _CHILD, str(tmp_path)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env, cwd=str(tmp_path))
    assert r.returncode == 0, f"strace run failed ({r.returncode}):\n{r.stdout}\n{r.stderr}"
    assert "saves 4 deferred" in r.stdout and "deferred 0" not in r.stdout, r.stdout  # deferred staging was used
    events = _strace_events(log.read_text(), str(tmp_path))
    written = find_files(str(tmp_path), ".ckpt")
    assert written == ["direct/a.ckpt", "direct/b.ckpt", "fit/epoch=0-step=2.ckpt", "fit/epoch=1-step=4.ckpt",
                       "fit/last.ckpt"]
    for f in written:
        assert_durable(events, str(tmp_path / f))
    assert sum(e[0] == "rename" and e[2].endswith("last.ckpt") for e in events) == 2
    assert any(e[0] == "write" and ".a.ckpt.tmp-" in e[1] for e in events)  # the parser sees the writes too
