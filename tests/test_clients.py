"""Real client code (tools/clients/run.py): libraries built on Lightning and Lightning's examples, under fastlit
and under Lightning, same metrics. Needs the package registry and a Lightning git repository, so it runs only with
``FASTLIT_CLIENTS=1`` (and ``FASTLIT_LIGHTNING_GIT`` for the examples); CI skips it. A documented release step."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(os.environ.get("FASTLIT_CLIENTS") != "1",
                                reason="needs the package registry: set FASTLIT_CLIENTS=1 (release check)")

RUNNER = Path(__file__).resolve().parent.parent / "tools" / "clients" / "run.py"


def test_clients_and_lightning_examples_match_lightning(tmp_path):
    cmd = [sys.executable, str(RUNNER), "--json", str(tmp_path / "results.json")]
    if os.environ.get("FASTLIT_LIGHTNING_GIT"):
        cmd += ["--lightning-git", os.environ["FASTLIT_LIGHTNING_GIT"]]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=3600)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
