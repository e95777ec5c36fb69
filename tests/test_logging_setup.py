"""fastlit's info lines reach a program's own logging set-up like Lightning's do: when the root logger has
handlers at import, ``fastlit`` propagates to them (no second stderr copy); otherwise it prints to stderr itself."""
from __future__ import annotations

import subprocess
import sys

import pytest

_PROBE = """
import logging, sys
if sys.argv[2] == "configured":
    logging.basicConfig(level=logging.INFO, format="ROOT %(message)s", stream=sys.stdout)
import {pkg}
log = logging.getLogger("{name}")
print("propagate", log.propagate, "own-handlers", len(log.handlers), "level", logging.getLevelName(log.level))
logging.getLogger("{name}.child").info("hello")
"""


def _probe(pkg: str, name: str, mode: str) -> tuple[str, str]:
    proc = subprocess.run([sys.executable, "-c", _PROBE.format(pkg=pkg, name=name), "x", mode],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout, proc.stderr


@pytest.mark.parametrize("mode", ["configured", "bare"])
def test_logger_setup_matches_lightnings(mode, lightning):
    ours = _probe("fastlit", "fastlit", mode)
    theirs = _probe("pytorch_lightning", "pytorch_lightning", mode)
    assert ours[0] == theirs[0]
    assert ours[1].count("hello") == theirs[1].count("hello")


def test_configured_root_receives_fastlit_lines_once():
    out, err = _probe("fastlit", "fastlit", "configured")
    assert "propagate True own-handlers 0 level INFO" in out
    assert out.count("ROOT hello") == 1 and "hello" not in err


def test_bare_program_gets_fastlit_lines_on_stderr():
    out, err = _probe("fastlit", "fastlit", "bare")
    assert "propagate False own-handlers 1 level INFO" in out
    assert err.strip().splitlines()[-1] == "hello"
