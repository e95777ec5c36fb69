"""Test-wide settings: one intra-op thread (CI machines are small and shared, and results are then reproducible),
and each test runs in its own temporary working directory so nothing (``lightning_logs/``, ``checkpoints``) is
written into the repository even when a test leaves ``default_root_dir`` at its default."""
from __future__ import annotations

import pytest
import torch

torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _isolated_cwd(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path_factory.mktemp("cwd"))


@pytest.fixture
def lightning():
    """``pytorch_lightning`` for differential tests (skipped when it is not installed)."""
    return pytest.importorskip("pytorch_lightning")


@pytest.fixture
def fastlit_pl():
    import fastlit

    return fastlit
