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


def test_missing_extension_trains_on_torch_and_warns_once():
    # What a pure-Python install (setup.py with FASTLIT_NO_EXTENSION=1) or a broken build looks like: no
    # fastlit._C. A fit with torch's Adam still runs, and says once why it is slower.
    code = (
        "import sys, warnings\n"
        "sys.modules['fastlit._C'] = None\n"
        "import torch, fastlit as pl\n"
        "from fastlit._ext import EXT_AVAILABLE, EXT_ERROR\n"
        "assert not EXT_AVAILABLE and 'fastlit._C' in EXT_ERROR, EXT_ERROR\n"
        "class M(pl.LightningModule):\n"
        "    def __init__(self):\n"
        "        super().__init__(); self.lin = torch.nn.Linear(4, 1)\n"
        "    def training_step(self, batch, i):\n"
        "        return self.lin(batch[0]).pow(2).mean()\n"
        "    def configure_optimizers(self):\n"
        "        return torch.optim.Adam(self.parameters(), lr=0.1)\n"
        "data = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.randn(8, 4)), batch_size=4)\n"
        "with warnings.catch_warnings(record=True) as w:\n"
        "    warnings.simplefilter('always')\n"
        "    for _ in range(2):\n"
        "        pl.Trainer(max_epochs=1, logger=False, enable_checkpointing=False,\n"
        "                   enable_progress_bar=False, enable_model_summary=False).fit(M(), data)\n"
        "msgs = [str(x.message) for x in w if 'fastlit._C' in str(x.message)]\n"
        "assert len(msgs) == 1, msgs\n"
        "print(msgs[0])\n"
    )
    out = _run(code)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "falling back to torch's" in out.stdout and "pip install --no-build-isolation -e ." in out.stdout
    assert "FASTLIT_NO_EXTENSION" in out.stdout
