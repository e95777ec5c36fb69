"""Deferred staging (``AsyncCheckpointIO(staging="deferred")``): the C++ stager thread copies the sources the
caller marked as written only later (parameters, optimizer state) after ``save_deferred`` returns; ``fence`` waits for
that copy. What is written is still the state at the call, and a write the version counter sees before the copy
fails the save with a clear error instead of writing a mixed state.
"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import zipfile

import pytest
import torch

from fastlit.checkpoint import async_io
from fastlit.checkpoint.async_io import AsyncCheckpointIO
from test_async_io import _assert_same, _state

NATIVE = async_io._native_class()[0] is not None
native_only = pytest.mark.skipif(not NATIVE, reason="the C++ writer (fastlit._C) is not built")


def _ptrs(obj) -> set[int]:
    """Every tensor storage in ``obj`` (the test marks all of them as deferrable)."""
    out: set[int] = set()

    def walk(o):
        if isinstance(o, torch.Tensor):
            out.add(o.untyped_storage().data_ptr())
        elif isinstance(o, dict):
            for v in o.values():
                walk(v)
        elif isinstance(o, (list, tuple)):
            for v in o:
                walk(v)

    walk(obj)
    return out


def _mutate(obj) -> None:
    for t in obj["state_dict"].values():
        if t.numel() and t.dtype.is_floating_point:
            t.add_(1)


def _load(path):
    return torch.load(path, weights_only=True)


@native_only
def test_deferred_save_writes_the_state_at_the_call(tmp_path):
    state, ref = _state(1), _state(1)
    io = AsyncCheckpointIO()
    io.save_deferred(state, tmp_path / "a.ckpt", None, _ptrs(state))
    assert io._staging  # the copy was left to the stager thread
    io.fence()
    assert not io._staging
    _mutate(state)  # after the fence: must not reach the file
    io.wait()
    _assert_same(_load(tmp_path / "a.ckpt"), ref)
    assert zipfile.ZipFile(tmp_path / "a.ckpt").testzip() is None  # CRCs the stager computed while copying
    assert io.num_saves == 1 and io.blocked_s > 0
    io.teardown()


@native_only
def test_deferred_save_returns_before_the_big_copy(tmp_path, monkeypatch):
    # With the stager held back, save_deferred must still return at once: the deferred tensors were not copied by it.
    monkeypatch.setenv("FASTLIT_CKPT_TEST_STAGE_DELAY_MS", "300")
    big = {"state_dict": {f"w{i}": torch.full((1 << 18,), float(i)) for i in range(8)}}
    io = AsyncCheckpointIO()
    io.save_deferred(big, tmp_path / "b.ckpt", None, _ptrs(big))
    assert io.pending == 1 and io._staging
    io.fence()
    io.wait()
    assert all(torch.equal(v, torch.full((1 << 18,), float(i)))
               for i, v in enumerate(_load(tmp_path / "b.ckpt")["state_dict"].values()))
    assert zipfile.ZipFile(tmp_path / "b.ckpt").testzip() is None  # 1 MiB records: CRCs over 4 chunks
    io.teardown()


@native_only
def test_write_before_the_copy_fails_the_save_and_keeps_the_old_file(tmp_path, monkeypatch):
    monkeypatch.setenv("FASTLIT_CKPT_TEST_STAGE_DELAY_MS", "200")
    io = AsyncCheckpointIO()
    path = tmp_path / "c.ckpt"
    old = _state(0)
    io.save_checkpoint(old, path)  # eager: not affected by the delay
    io.wait()
    state = _state(2)
    io.save_deferred(state, path, None, _ptrs(state))
    _mutate(state)  # no fence: the stager is still asleep, so the version counters have moved when it copies
    with pytest.raises(RuntimeError, match=r"c\.ckpt.*modified in place before its deferred copy.*"
                                           r"optimizer step.*staging=\"eager\".*previous file.*unchanged"):
        io.wait()
    _assert_same(_load(path), _state(0))  # the previous checkpoint is intact
    io.save_checkpoint(_state(3), path)  # the writer keeps working after the failed save
    io.wait()
    _assert_same(_load(path), _state(3))
    io.teardown()


@native_only
def test_eager_staging_and_direct_calls_copy_before_returning(tmp_path):
    state = _state(4)
    eager = AsyncCheckpointIO(staging="eager")
    eager.save_deferred(state, tmp_path / "e.ckpt", None, _ptrs(state))
    assert not eager._staging
    direct = AsyncCheckpointIO()
    direct.save_checkpoint(state, tmp_path / "d.ckpt")  # no mutable set: everything is copied in the call
    assert not direct._staging
    _mutate(state)
    for io, name in ((eager, "e.ckpt"), (direct, "d.ckpt")):
        io.wait()
        _assert_same(_load(tmp_path / name), _state(4))
        io.teardown()


def test_thread_backend_ignores_deferral(tmp_path):
    state = _state(5)
    io = AsyncCheckpointIO(backend="thread")
    io.save_deferred(state, tmp_path / "t.ckpt", None, _ptrs(state))
    assert not io._staging
    io.fence()  # a no-op
    _mutate(state)
    io.wait()
    _assert_same(_load(tmp_path / "t.ckpt"), _state(5))
    io.teardown()


@native_only
def test_inference_tensors_are_copied_in_the_call(tmp_path):
    with torch.inference_mode():
        w = torch.ones(1000)
    state = {"state_dict": {"w": w}}
    io = AsyncCheckpointIO()
    io.save_deferred(state, tmp_path / "i.ckpt", None, _ptrs(state))  # no version counter: cannot be deferred
    io.wait()
    assert torch.equal(_load(tmp_path / "i.ckpt")["state_dict"]["w"], torch.ones(1000))
    io.teardown()


@native_only
def test_teardown_waits_for_a_pending_deferred_copy(tmp_path, monkeypatch):
    monkeypatch.setenv("FASTLIT_CKPT_TEST_STAGE_DELAY_MS", "100")
    state = _state(6)
    io = AsyncCheckpointIO()
    io.save_deferred(state, tmp_path / "p.ckpt", None, _ptrs(state))
    io.teardown()  # no fence: close drains the stager before the writer
    assert not io._staging and io.staging_bytes == 0
    _assert_same(_load(tmp_path / "p.ckpt"), _state(6))


def test_staging_argument_is_checked():
    with pytest.raises(ValueError, match="staging must be 'deferred' or 'eager'"):
        AsyncCheckpointIO(staging="lazy")


@native_only
def test_interpreter_exit_with_a_deferred_save_pending(tmp_path):
    # The process ends without teardown/fence: the file is complete or absent, never partial, and exit is clean.
    script = textwrap.dedent(f"""
        import torch
        from fastlit.checkpoint.async_io import AsyncCheckpointIO
        sd = {{"w": torch.randn(1 << 20)}}
        io = AsyncCheckpointIO()
        io.save_deferred({{"state_dict": sd}}, {str(tmp_path / "x.ckpt")!r}, None, {{sd["w"].untyped_storage().data_ptr()}})
    """)
    for _ in range(4):  # the exit races the stager: it used to abort now and then (a tensor freed off the GIL)
        r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                           cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
        assert r.returncode == 0, r.stderr
        if (tmp_path / "x.ckpt").exists():
            assert _load(tmp_path / "x.ckpt")["state_dict"]["w"].numel() == 1 << 20
