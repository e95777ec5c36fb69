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


@pytest.fixture
def lightning_without_rich(monkeypatch: pytest.MonkeyPatch) -> None:
    """Lightning 2.6.6 picks ``RichProgressBar``/``RichModelSummary`` as its defaults and prints its results table
    with rich whenever ``rich`` is installed (the ``test`` extra installs it); fastlit's Trainer keeps the tqdm bar
    and the plain table. Tests comparing those defaults' output make Lightning take its no-rich path."""
    pytest.importorskip("pytorch_lightning")
    import pytorch_lightning.loops.evaluation_loop as evaluation_loop
    import pytorch_lightning.trainer.connectors.callback_connector as callback_connector

    monkeypatch.setattr(callback_connector, "_RICH_AVAILABLE", False)
    monkeypatch.setattr(evaluation_loop, "_RICH_AVAILABLE", False)
