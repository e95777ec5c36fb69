"""Temp files that a SIGKILLed checkpoint writer left beside its target (``.<name>.tmp-<pid>-<n>``) are removed by
``ModelCheckpoint`` at setup when their writer pid is dead; live writers' temp files and every other file stay."""
from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest

import fastlit
from fastlit.checkpoint.io import atomic_save, remove_stale_temp_files
from helpers import models, quiet, randn_loader

Boring = models(fastlit).BoringModel


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()  # reaped: the pid is free (reuse within this test is astronomically unlikely)
    return p.pid


def _touch(path: Any, data: bytes = b"partial") -> str:
    with open(path, "wb") as f:
        f.write(data)
    return str(path)


def _layout(d: Any) -> dict[str, list[str]]:
    dead, live = _dead_pid(), os.getpid()
    stale = [_touch(d / f".epoch=0-step=1.ckpt.tmp-{dead}-0"),  # async writers' name
             _touch(d / f".last.ckpt.tmp-{dead}-17"),
             _touch(d / f".epoch=0-step=2.ckpt.tmp-{dead}")]  # earlier atomic_save name (no counter)
    keep = [_touch(d / f".epoch=0-step=1.ckpt.tmp-{live}-3"),  # a live writer (this process): an in-flight write
            _touch(d / f".notes.txt.tmp-{dead}-0"),  # not a checkpoint's temp file
            _touch(d / f"epoch=0-step=1.ckpt.tmp-{dead}-0"),  # not hidden: not our name
            _touch(d / f".epoch=0-step=1.ckpt.tmp-{dead}-x"),
            _touch(d / f".epoch=0-step=1.ckpt.tmp-{dead}-0.bak"),
            _touch(d / "user.ckpt"), _touch(d / "README")]
    os.symlink("user.ckpt", d / f".link.ckpt.tmp-{dead}-0")  # only regular files are ours
    keep.append(str(d / f".link.ckpt.tmp-{dead}-0"))
    return {"stale": stale, "keep": keep}


def test_modelcheckpoint_setup_removes_only_dead_writers_temp_files(tmp_path: Any) -> None:
    d = tmp_path / "ckpts"
    d.mkdir()
    files = _layout(d)
    cb = fastlit.callbacks.ModelCheckpoint(dirpath=str(d))
    trainer = fastlit.Trainer(**quiet(default_root_dir=str(tmp_path), max_epochs=1, logger=False, callbacks=[cb]))
    trainer.fit(Boring(), randn_loader(8))
    names = set(os.listdir(d))
    assert not [p for p in files["stale"] if os.path.basename(p) in names]
    assert all(os.path.lexists(p) for p in files["keep"])
    assert names == {os.path.basename(p) for p in files["keep"]} | {"epoch=0-step=2.ckpt"}


def test_cleanup_runs_before_validate_and_without_checkpoint_dir(tmp_path: Any) -> None:
    # validate/test set the callback up too; a dirpath that does not exist yet is fine
    d = tmp_path / "ckpts"
    d.mkdir()
    files = _layout(d)
    cb = fastlit.callbacks.ModelCheckpoint(dirpath=str(d))
    fastlit.Trainer(**quiet(default_root_dir=str(tmp_path), logger=False, callbacks=[cb])).validate(
        Boring(), randn_loader(8))
    assert not any(os.path.exists(p) for p in files["stale"]) and all(os.path.lexists(p) for p in files["keep"])
    assert remove_stale_temp_files(tmp_path / "missing") == []


def test_atomic_save_temp_name_has_pid_and_counter(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    seen = []
    real_replace = os.replace

    def replace(src: str, dst: str) -> None:
        seen.append(os.path.basename(src))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    atomic_save({"a": 1}, tmp_path / "x.ckpt")
    atomic_save({"a": 2}, tmp_path / "x.ckpt")
    pid = os.getpid()
    assert [n.rsplit("-", 1)[0] for n in seen] == [f".x.ckpt.tmp-{pid}"] * 2
    assert len(set(seen)) == 2  # the counter differs between writes
    assert os.listdir(tmp_path) == ["x.ckpt"]
