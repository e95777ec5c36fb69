"""The compiled extension loads in CI, and its absence is loud, never silent."""
import os
import subprocess
import sys

import pytest
import torch

import fastlit._ext as ext


def test_extension_is_loaded():
    # CI must exercise the compiled ops, never the fallback.
    assert ext.EXT_AVAILABLE, f"fastlit._C failed to load: {ext.EXT_ERROR}"
    assert ext.EXT_ERROR is None
    assert hasattr(torch.ops.fastlit, "fused_adam_")
    assert ext.cpu_capability() in ("DEFAULT", "AVX2")


def _run(code: str, **env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-W", "always", "-c", code], capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=120)


def test_disable_env_forces_fallback_and_warns_once():
    code = (
        "import warnings, fastlit._ext as e\n"
        "assert not e.EXT_AVAILABLE and 'FASTLIT_DISABLE_EXT' in e.EXT_ERROR, e.EXT_ERROR\n"
        "with warnings.catch_warnings(record=True) as w:\n"
        "    warnings.simplefilter('always')\n"
        "    e.warn_if_missing(); e.warn_if_missing()\n"
        "assert len(w) == 1 and issubclass(w[0].category, UserWarning), w\n"
        "print(w[0].message)\n"
    )
    out = _run(code, FASTLIT_DISABLE_EXT="1")
    assert out.returncode == 0, out.stderr
    assert "FASTLIT_DISABLE_EXT" in out.stdout and "unset" in out.stdout


def test_ops_without_extension_raise_clear_error():
    code = (
        "import torch, fastlit.ops as ops\n"
        "try:\n"
        "    ops.clip_grad_value_([torch.zeros(2)], 1.0)\n"
        "except RuntimeError as err:\n"
        "    print(err)\n"
    )
    out = _run(code, FASTLIT_DISABLE_EXT="1")
    assert out.returncode == 0, out.stderr
    assert "pip install --no-build-isolation -e ." in out.stdout


def test_cpu_default_variant_can_be_forced():
    # The baseline (non-AVX2) kernels are selectable at run time, so both variants are testable on one machine.
    code = "import fastlit._ext as e; print(e.cpu_capability())"
    out = _run(code, FASTLIT_CPU_DEFAULT="1")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "DEFAULT"


def test_op_suite_passes_on_baseline_kernels():
    # The AVX2 variant is what runs here; the baseline one must stay correct too.
    if ext.cpu_capability() != "AVX2":
        pytest.skip("this CPU has no AVX2: the op suite itself already ran on the baseline kernels")
    import pathlib

    here = pathlib.Path(__file__).parent
    files = sorted(str(p) for p in here.glob("test_*.py") if p.name != "test_ext.py")
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *files],
                         capture_output=True, text=True, env={**os.environ, "FASTLIT_CPU_DEFAULT": "1"}, timeout=600)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
