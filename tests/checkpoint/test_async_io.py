"""AsyncCheckpointIO and its writers: format, snapshot semantics, ordering, backpressure and errors.

Every test runs against the C++ writer (``torch.classes.fastlit.CheckpointWriter`` from ``fastlit._C``, or a
development build named by ``FASTLIT_IO_DEV_LIB``) and against the Python-thread fallback.
"""
from __future__ import annotations

import errno
import io
import os
import pickle
import re
import shutil
import subprocess
import sys
import time
import zipfile

import pytest
import torch

from fastlit.checkpoint import archive, async_io
from fastlit.checkpoint.async_io import AsyncCheckpointIO, ThreadWriter, make_writer
from fastlit.checkpoint.io import TorchCheckpointIO, load
from waits import finish, popen_reading

if os.environ.get("FASTLIT_IO_DEV_LIB") and async_io._native_class()[0] is None:
    torch.ops.load_library(os.environ["FASTLIT_IO_DEV_LIB"])
NATIVE = async_io._native_class()[0] is not None


@pytest.fixture(params=["native", "thread"])
def backend(request):
    if request.param == "native" and not NATIVE:
        pytest.skip(f"C++ writer unavailable: {async_io._native_class()[1]}")
    return request.param


def _state(seed: int = 0, mb: float = 0.1) -> dict:
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(int(mb * 2**18), 4, generator=g)
    return {
        "epoch": seed, "global_step": 10 * seed, "name": "run", "nested": {"t": (1, 2.5, None), "l": [True, "x"]},
        "state_dict": {"w": w, "w_t": w.t(), "w_row": w[3], "b": torch.arange(7), "h": torch.randn(5, generator=g).half(),
                       "bf": torch.randn(3, 2, generator=g).bfloat16(), "mask": torch.tensor([True, False]),
                       "empty": torch.empty(0, 3), "scalar": torch.tensor(3.5, dtype=torch.float64),
                       "nc": torch.randn(4, 6, generator=g)[:, ::2]},
        # through torch's own reducers (not the fast path), one sharing the storage of a fast-path tensor
        "extra": {"param": torch.nn.Parameter(torch.ones(2)), "grad_view": w.detach()[:2].requires_grad_()},
        "optimizer_states": [{"state": {0: {"step": torch.tensor(float(seed)), "exp_avg": torch.ones(3) * seed}},
                              "param_groups": [{"lr": 0.1, "params": [0]}]}],
    }


def _assert_same(a, b):
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.dtype == b.dtype and a.shape == b.shape and a.stride() == b.stride()
        assert a.storage_offset() == b.storage_offset()
        assert torch.equal(a.reshape(-1).contiguous().view(torch.uint8), b.reshape(-1).contiguous().view(torch.uint8))
    elif isinstance(a, dict):
        assert a.keys() == b.keys()
        for k in a:
            _assert_same(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert type(a) is type(b) and len(a) == len(b)
        for x, y in zip(a, b):
            _assert_same(x, y)
    else:
        assert a == b


def _clone(obj):
    buf = io.BytesIO()
    torch.save(obj, buf)
    buf.seek(0)
    return torch.load(buf, weights_only=True)


def test_dumps_matches_torch_save_pickle():
    state = _state(1)
    pkl, keys, tensors = archive.dumps(state)
    buf = io.BytesIO()
    torch.save(state, buf)
    assert zipfile.ZipFile(buf).read("archive/data.pkl") == pkl
    assert keys == [str(i) for i in range(len(keys))]
    assert len({t.untyped_storage().data_ptr() for t in tensors}) == len(tensors)


def test_round_trip_bit_equal_and_weights_only(tmp_path, backend):
    state = _state(2)
    ckio = AsyncCheckpointIO(backend=backend)
    path = tmp_path / "a.ckpt"
    ckio.save_checkpoint(state, path)
    ckio.teardown()
    loaded = torch.load(path, weights_only=True)
    _assert_same(state, loaded)
    # views keep sharing one storage, as with torch.save
    sd = loaded["state_dict"]
    assert sd["w_t"].untyped_storage().data_ptr() == sd["w"].untyped_storage().data_ptr()
    _assert_same(state, load(path))
    _assert_same(state, TorchCheckpointIO().load_checkpoint(path))
    # same records as torch.save, and a zip every tool accepts (CRCs checked)
    ref = tmp_path / "ref.ckpt"
    with open(ref, "wb") as f:  # a file object: torch names the archive "archive", as fastlit's sync save does
        torch.save(state, f)
    ours, theirs = zipfile.ZipFile(path).infolist(), zipfile.ZipFile(ref).infolist()
    assert [i.filename for i in ours] == [i.filename for i in theirs]
    if backend == "native":  # our own zip writer: the same layout byte offsets, sizes and CRCs as torch's
        same = [(i.header_offset, i.file_size, i.CRC, i.flag_bits) for i in ours[:-1]]
        assert same == [(i.header_offset, i.file_size, i.CRC, i.flag_bits) for i in theirs[:-1]]
    assert zipfile.ZipFile(path).testzip() is None
    _assert_same(state, torch.load(path, weights_only=True, mmap=True))  # mmap needs aligned record data


def test_zip64_layout_reads_back(tmp_path):
    if not NATIVE:
        pytest.skip("C++ writer unavailable")
    # the zip64 fields a > 4 GiB record or offset needs, forced on small records
    w = torch.classes.fastlit.CheckpointWriter(1, 64, True, True)
    state = _state(9)
    pkl, keys, tensors = archive.dumps(state)
    w.save(str(tmp_path / "z.ckpt"), torch.frombuffer(bytearray(pkl), dtype=torch.uint8), keys, tensors)
    w.wait(-1)
    assert w.take_error()[0] == -1
    w.close()
    assert zipfile.ZipFile(tmp_path / "z.ckpt").testzip() is None
    _assert_same(state, torch.load(tmp_path / "z.ckpt", weights_only=True))
    _assert_same(state, torch.load(tmp_path / "z.ckpt", weights_only=True, mmap=True))


def _supports_o_direct(directory) -> bool:
    try:
        fd = os.open(os.path.join(directory, ".probe"), os.O_WRONLY | os.O_CREAT | getattr(os, "O_DIRECT", 0))
    except OSError:
        return False
    os.close(fd)
    os.unlink(os.path.join(directory, ".probe"))
    return hasattr(os, "O_DIRECT")


def test_large_records_round_trip(tmp_path, backend):
    state = _state(10, mb=3)  # a 3 MiB storage: the C++ writer sends it to disk with O_DIRECT where it can
    state["state_dict"]["odd"] = torch.arange((1 << 18) + 7, dtype=torch.int32)  # not a multiple of a page
    ckio = AsyncCheckpointIO(backend=backend)
    ckio.save_checkpoint(state, tmp_path / "big.ckpt")
    ckio.teardown()
    _assert_same(state, torch.load(tmp_path / "big.ckpt", weights_only=True))
    _assert_same(state, torch.load(tmp_path / "big.ckpt", weights_only=True, mmap=True))
    z = zipfile.ZipFile(tmp_path / "big.ckpt")
    assert z.testzip() is None
    if backend == "native" and _supports_o_direct(tmp_path):
        big = [i for i in z.infolist() if i.file_size >= 1 << 20]
        assert len(big) == 2
        for i in big:  # page-aligned data: the O_DIRECT layout
            with open(tmp_path / "big.ckpt", "rb") as f:
                f.seek(i.header_offset + 26)
                n, m = int.from_bytes(f.read(2), "little"), int.from_bytes(f.read(2), "little")
            assert (i.header_offset + 30 + n + m) % 4096 == 0


def test_crc_option_is_respected(tmp_path, backend):
    torch.serialization.set_crc32_options(False)
    try:
        ckio = AsyncCheckpointIO(backend=backend)
        ckio.save_checkpoint(_state(1), tmp_path / "a.ckpt")
        ckio.teardown()
    finally:
        torch.serialization.set_crc32_options(True)
    _assert_same(_state(1), torch.load(tmp_path / "a.ckpt", weights_only=True))
    assert all(i.CRC == 0 for i in zipfile.ZipFile(tmp_path / "a.ckpt").infolist())


def test_mutation_after_save_does_not_change_the_file(tmp_path, backend):
    state = _state(3, mb=4)
    expected = _clone(state)
    ckio = AsyncCheckpointIO(backend=backend, max_in_flight=2)
    ckio.save_checkpoint(state, tmp_path / "a.ckpt")
    # what a training loop does right after the call: in-place updates, replaced entries, cleared containers
    state["state_dict"]["w"].mul_(-3).add_(1)
    state["optimizer_states"][0]["state"][0]["exp_avg"].zero_()
    state["state_dict"]["b"] = torch.zeros(1)
    state["nested"]["l"].clear()
    ckio.save_checkpoint(state, tmp_path / "b.ckpt")
    second = _clone(state)
    state["state_dict"]["w"].zero_()
    ckio.teardown()
    _assert_same(expected, torch.load(tmp_path / "a.ckpt", weights_only=True))
    _assert_same(second, torch.load(tmp_path / "b.ckpt", weights_only=True))


@pytest.mark.parametrize("max_in_flight", [1, 3])
def test_saves_while_in_flight_and_bounded_staging(tmp_path, backend, max_in_flight):
    ckio = AsyncCheckpointIO(backend=backend, max_in_flight=max_in_flight)
    states = [_state(i, mb=2) for i in range(6)]
    sources = archive.dumps(states[0])[2]
    nbytes = sum(t.untyped_storage().nbytes() for t in sources)
    # alignment padding, the 2 MiB growth step and the 2 MiB for starting the arena on a huge-page boundary
    slack = 4096 * (len(sources) + 1) + (4 << 20)
    for i, s in enumerate(states):
        ckio.save_checkpoint(s, tmp_path / f"s{i}.ckpt")
        assert ckio.pending <= max_in_flight
        ckio.save_checkpoint(s, tmp_path / "last.ckpt")  # same path, queued behind the other
        assert ckio.pending <= max_in_flight
    staging = ckio.staging_bytes
    assert nbytes <= staging <= max_in_flight * (nbytes + slack)  # one arena per slot, reused
    ckio.wait()
    assert ckio.pending == 0
    for i, s in enumerate(states):
        _assert_same(s, torch.load(tmp_path / f"s{i}.ckpt", weights_only=True))
    _assert_same(states[-1], torch.load(tmp_path / "last.ckpt", weights_only=True))
    assert sorted(os.listdir(tmp_path)) == sorted([f"s{i}.ckpt" for i in range(6)] + ["last.ckpt"])  # no temp files
    ckio.teardown()
    assert ckio.staging_bytes == 0


def test_remove_waits_for_the_new_file(tmp_path, backend):
    ckio = AsyncCheckpointIO(backend=backend)
    old, new = tmp_path / "old.ckpt", tmp_path / "new.ckpt"
    torch.save({"x": 1}, old)
    ckio.save_checkpoint(_state(4, mb=16), new)
    ckio.remove_checkpoint(old)
    deadline = time.monotonic() + 120
    while old.exists():  # spin: the moment the old file is gone, the new one must be complete
        assert time.monotonic() < deadline, "the old checkpoint was not removed within 120 s"
    assert new.exists()
    _assert_same(_state(4, mb=16), torch.load(new, weights_only=True))
    ckio.teardown()


def test_failed_write_raises_at_next_save_keeps_old_file_and_skips_removal(tmp_path, backend, monkeypatch):
    ckio = AsyncCheckpointIO(backend=backend)
    good = tmp_path / "good.ckpt"
    ckio.save_checkpoint(_state(5), good)
    ckio.wait()
    monkeypatch.setattr(async_io.os, "makedirs", lambda *a, **k: None)  # the directory vanishes before the write
    bad = tmp_path / "gone" / "bad.ckpt"
    ckio.save_checkpoint(_state(6, mb=8), tmp_path / "slow.ckpt")  # usually keeps the next two queued
    ckio.save_checkpoint(_state(6), bad)
    errors = []
    try:  # ModelCheckpoint's top-k deletion: must not run, the new file never landed
        ckio.remove_checkpoint(good)
    except OSError as e:  # the failure was already known: reported here instead of removing
        errors.append(e)
    if not errors:
        ckio._writer.wait(-1)
        with pytest.raises(OSError) as err:
            ckio.save_checkpoint(_state(7), tmp_path / "next.ckpt")
        errors.append(err.value)
        assert not (tmp_path / "next.ckpt").exists()
    assert errors[0].errno == errno.ENOENT
    assert "gone/bad.ckpt" in str(errors[0]) and "previous file" in str(errors[0])
    _assert_same(_state(5), torch.load(good, weights_only=True))
    ckio.teardown()  # nothing left to report


def test_error_raised_at_teardown_and_wait(tmp_path, backend, monkeypatch):
    monkeypatch.setattr(async_io.os, "makedirs", lambda *a, **k: None)
    ckio = AsyncCheckpointIO(backend=backend)
    ckio.save_checkpoint(_state(1), tmp_path / "missing" / "a.ckpt")
    with pytest.raises(OSError, match="missing/a.ckpt"):
        ckio.teardown()
    ckio.teardown()  # reported once; the plugin is reusable afterwards
    ckio.save_checkpoint(_state(1), tmp_path / "b.ckpt")
    ckio.wait()
    assert (tmp_path / "b.ckpt").exists()
    ckio.save_checkpoint(_state(1), tmp_path / "missing" / "c.ckpt")
    with pytest.raises(OSError, match="missing/c.ckpt"):
        ckio.wait()


def _mount_tmpfs(path, size: str, ro: bool = False) -> bool:
    if sys.platform != "linux" or os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    os.makedirs(path, exist_ok=True)
    opts = f"size={size}" + (",ro" if ro else "")
    return subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(path)], capture_output=True).returncode == 0


def test_disk_full_tmpfs(tmp_path, backend):
    mnt = tmp_path / "small"
    if not _mount_tmpfs(mnt, "6m"):
        pytest.skip("needs root to mount a small tmpfs (see the RLIMIT_FSIZE test)")
    try:
        ckio = AsyncCheckpointIO(backend=backend)
        path = mnt / "model.ckpt"
        ckio.save_checkpoint(_state(1, mb=1), path)  # ~4 MB: fits
        ckio.wait()
        ckio.save_checkpoint(_state(2, mb=2), path)  # ~8 MB more: the disk is full half-way
        with pytest.raises(OSError, match="model.ckpt") as err:
            ckio.wait()
        assert err.value.errno == errno.ENOSPC and "No space left" in str(err.value)
        _assert_same(_state(1, mb=1), torch.load(path, weights_only=True))
        assert os.listdir(mnt) == ["model.ckpt"]  # the partial temp file was removed
        ckio.teardown()
    finally:
        subprocess.run(["umount", str(mnt)], check=False)


def test_read_only_filesystem(tmp_path, backend, monkeypatch):
    mnt = tmp_path / "ro"
    if not _mount_tmpfs(mnt, "1m", ro=True):
        pytest.skip("needs root to mount a read-only tmpfs")
    try:
        ckio = AsyncCheckpointIO(backend=backend)
        ckio.save_checkpoint(_state(1), mnt / "model.ckpt")
        with pytest.raises(OSError, match="ro/model.ckpt") as err:
            ckio.teardown()
        assert err.value.errno in (errno.EROFS, errno.EACCES)
    finally:
        subprocess.run(["umount", str(mnt)], check=False)


_CHILD_FSIZE = r"""
import os, resource, signal, sys, torch
if os.environ.get("FASTLIT_IO_DEV_LIB"):
    torch.ops.load_library(os.environ["FASTLIT_IO_DEV_LIB"])
from fastlit.checkpoint.async_io import AsyncCheckpointIO
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit then fails with EFBIG
d = sys.argv[1]
ckio = AsyncCheckpointIO(backend=sys.argv[2])
ckio.save_checkpoint({"w": torch.ones(1000)}, os.path.join(d, "m.ckpt"))
ckio.wait()
resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, resource.RLIM_INFINITY))
ckio.save_checkpoint({"w": torch.zeros(1 << 20)}, os.path.join(d, "m.ckpt"))
try:
    ckio.teardown()
except OSError as e:
    print("ERR", e.errno, e)
"""


def test_file_size_limit_gives_clear_error(tmp_path, backend):
    out = subprocess.run([sys.executable, "-c", _CHILD_FSIZE, str(tmp_path), backend], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert f"ERR {errno.EFBIG}" in out.stdout and "m.ckpt" in out.stdout, out.stdout + out.stderr
    assert torch.equal(torch.load(tmp_path / "m.ckpt", weights_only=True)["w"], torch.ones(1000))
    assert os.listdir(tmp_path) == ["m.ckpt"]


def test_custom_inner_checkpoint_io_gets_snapshot(tmp_path):
    calls = []

    class Recording(TorchCheckpointIO):
        def save_checkpoint(self, checkpoint, path, storage_options=None):
            calls.append((path, storage_options))
            torch.save(checkpoint, path)

        def remove_checkpoint(self, path):
            calls.append(("rm", path))
            os.remove(path)

    ckio = AsyncCheckpointIO(Recording())
    state = _state(8, mb=1)
    expected = _clone(state)
    ckio.save_checkpoint(state, tmp_path / "a.ckpt", storage_options={"k": 1})
    state["state_dict"]["w"].zero_()
    ckio.remove_checkpoint(tmp_path / "a.ckpt")
    ckio.save_checkpoint(state, tmp_path / "b.ckpt")
    ckio.teardown()
    assert isinstance(ckio._checkpoint_io, Recording)
    assert calls[0] == (tmp_path / "a.ckpt", {"k": 1}) and calls[1] == ("rm", tmp_path / "a.ckpt")  # paths as given
    assert not (tmp_path / "a.ckpt").exists()
    state_b = torch.load(tmp_path / "b.ckpt", weights_only=True)
    assert torch.equal(state_b["state_dict"]["w"], torch.zeros_like(expected["state_dict"]["w"]))
    _assert_same(expected["optimizer_states"], state_b["optimizer_states"])


def test_arguments_are_checked():
    with pytest.raises(ValueError, match="max_in_flight"):
        AsyncCheckpointIO(max_in_flight=0)
    with pytest.raises(ValueError, match="backend"):
        AsyncCheckpointIO(backend="gpu")
    with pytest.raises(TypeError, match="CheckpointIO"):
        AsyncCheckpointIO(checkpoint_io=object())
    with pytest.raises(TypeError, match="storage_options"):
        AsyncCheckpointIO(backend="thread").save_checkpoint({}, "x.ckpt", storage_options={"a": 1})


def test_fallback_warns_once_when_native_missing(monkeypatch):
    monkeypatch.setattr(async_io, "_native_class", lambda: (None, "test: not built"))
    monkeypatch.setattr(async_io, "_warned", False)
    with pytest.warns(UserWarning, match="not built"):
        w = make_writer(1)
    assert isinstance(w, ThreadWriter)
    w.close()
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        make_writer(1).close()
    with pytest.raises(RuntimeError, match="not built"):
        make_writer(1, "native")


def test_plugin_import_paths():
    import fastlit.plugins as plugins
    from fastlit.plugins.io import AsyncCheckpointIO as A2
    from fastlit.plugins.io.async_plugin import AsyncCheckpointIO as A3
    from fastlit.plugins.io.checkpoint_plugin import CheckpointIO
    from fastlit.plugins.io.torch_plugin import TorchCheckpointIO as T2

    assert plugins.AsyncCheckpointIO is A2 is A3 is AsyncCheckpointIO
    assert plugins.TorchCheckpointIO is T2 is TorchCheckpointIO and issubclass(AsyncCheckpointIO, CheckpointIO)


def test_unpicklable_object_raises_in_caller(tmp_path, backend):
    ckio = AsyncCheckpointIO(backend=backend)
    with pytest.raises((pickle.PicklingError, AttributeError, TypeError)):
        ckio.save_checkpoint({"f": lambda: 1}, tmp_path / "a.ckpt")
    ckio.teardown()
    assert not (tmp_path / "a.ckpt").exists()


_CHILD_KILL = r"""
import os, sys, torch
if os.environ.get("FASTLIT_IO_DEV_LIB"):
    torch.ops.load_library(os.environ["FASTLIT_IO_DEV_LIB"])
from fastlit.checkpoint.async_io import AsyncCheckpointIO
d, deferred = sys.argv[1], sys.argv[3] == "deferred"
ckio = AsyncCheckpointIO(backend=sys.argv[2])
w = torch.zeros(1 << 21)  # 8 MB
mutable = {w.untyped_storage().data_ptr()} if deferred else None  # deferred: the stager copies w (Trainer path)
print("ready", flush=True)
for i in range(1, 1 << 30):
    ckio._fence()  # what the Trainer does before the optimizer step writes to deferred sources
    w.fill_(i)
    ckio._save({"step": i, "w": w, "meta": {"i": i}}, os.path.join(d, f"ckpt-{i % 3}.ckpt"), None, mutable)
    ckio._save({"step": i, "w": w, "meta": {"i": i}}, os.path.join(d, "last.ckpt"), None, mutable)
    if i % 2 == 0:
        ckio.wait()
        print("durable", i, flush=True)
"""


def test_sigkill_during_writes_never_leaves_a_broken_checkpoint(tmp_path, backend):
    import random
    import signal
    import time

    rng = random.Random(1234)
    runs = 20 if backend == "native" else 5
    for run in range(runs):
        d = tmp_path / f"run{run}"
        d.mkdir()
        mode = "deferred" if run % 2 else "eager"  # half the kills hit the stager thread's copies
        proc = popen_reading([sys.executable, "-c", _CHILD_KILL, str(d), backend, mode])
        proc.stdout_lines.wait_for("ready", 120)
        time.sleep(rng.uniform(0.0, 0.8))  # a random moment: staging, writing, fsync or rename
        assert proc.poll() is None, f"run {run}: the writer died before the kill:\n{proc.stderr_lines.text()[-3000:]}"
        proc.send_signal(signal.SIGKILL)
        out, _ = finish(proc, 60)
        # a complete "durable N" line only: the kill may cut the child between writing the word and the number
        durable = [int(line.split()[1]) for line in out.splitlines() if re.fullmatch(r"durable \d+", line)]
        files = sorted(f for f in os.listdir(d) if not f.startswith("."))  # dot files: abandoned temp files
        assert set(files) <= {"ckpt-0.ckpt", "ckpt-1.ckpt", "ckpt-2.ckpt", "last.ckpt"}
        steps = {}
        for f in files:  # every checkpoint path that exists holds a complete, consistent checkpoint
            ckpt = torch.load(d / f, weights_only=True)
            assert ckpt["meta"]["i"] == ckpt["step"] and torch.equal(ckpt["w"], torch.full((1 << 21,), float(ckpt["step"])))
            assert int(f[5]) == ckpt["step"] % 3 if f.startswith("ckpt-") else True
            steps[f] = ckpt["step"]
        if durable:  # the last save reported durable (or a later one) is what is on disk
            assert steps["last.ckpt"] >= durable[-1]
            assert steps[f"ckpt-{durable[-1] % 3}.ckpt"] >= durable[-1]
