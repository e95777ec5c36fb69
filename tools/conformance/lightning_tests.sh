#!/usr/bin/env bash
# (tools/conformance/run.sh calls this with the project's defaults; written for this project, not Lightning code)
# Lightning's own unit tests run against Lightning itself or against a drop-in replacement (fastlit) by
# rewriting imports. You choose the tests: PEER_SELECT=FILE with one pytest node id per line
# (e.g. callbacks/test_early_stopping.py::test_resume_early_stopping_from_checkpoint), relative to tests_pytorch.
#
# usage: run.sh MIRROR_GIT_DIR PYTHON IMPL
#   MIRROR_GIT_DIR  bare git dir of Lightning-AI/pytorch-lightning (tests are extracted from it, never copied here)
#   PYTHON          interpreter that has torch, pytest, tensorboard, packaging and IMPL installed
#   IMPL            pytorch_lightning | fastlit | any importable package name
#
# What it does (all in a fresh temp dir, removed afterwards unless something failed or PEER_KEEP=1):
#   1. git archive tests/tests_pytorch and src/lightning/pytorch/demos/boring_classes.py from the mirror;
#   2. rewrites imports: lightning.pytorch -> IMPL, lightning.fabric -> IMPL, lightning.pytorch.demos ->
#      peer_demos (the mirror's boring_classes.py, itself rewritten onto IMPL), lightning_utilities ->
#      peer_shims (own stand-ins); module-level imports that fail bind a placeholder (see README);
#   3. replaces tests_pytorch/conftest.py and helpers/runif.py with own minimal versions;
#   4. runs pytest on exactly the node ids in PEER_SELECT (per-test timeout) and prints `N passed, M failed`.
#
# Optional environment:
#   PEER_TEST_TIMEOUT=60       per-test timeout in seconds (SIGALRM; hard exit 30 s later, then the run resumes)
#   PEER_FILTER=regex          only the node ids matching the regex
#   PEER_SELECT=file           the list of node ids to run (required)
#   PEER_COMMIT=HEAD           mirror commit to extract the tests from
#   PEER_DEMOS=mirror|impl     mirror (default): BoringModel & co. come from the mirror's demos rewritten onto
#                              IMPL; impl: use IMPL.demos.boring_classes
#   PEER_STRICT_IMPORTS=1      no placeholders: a missing name makes its whole test file fail to import
#   PEER_BLOCK_LIGHTNING=1     (IMPL != pytorch_lightning) make importing pytorch_lightning / lightning /
#                              lightning_fabric fail, so IMPL cannot delegate to an installed Lightning
#   PEER_KEEP=1                keep the temp dir (it is also kept when a test failed)
#   PEER_PYTEST_ARGS="..."     extra pytest arguments
set -u

if [ $# -ne 3 ]; then
    echo "usage: $0 MIRROR_GIT_DIR PYTHON IMPL" >&2
    exit 2
fi
MIRROR=$1
PY_ARG=$2
IMPL=$3
if ! [[ "$IMPL" =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]]; then
    echo "IMPL must be a top-level package name, got '$IMPL'" >&2
    exit 2
fi
if [[ "$PY_ARG" == */* ]]; then
    PY="$(cd "$(dirname "$PY_ARG")" && pwd)/$(basename "$PY_ARG")"
else
    PY=$(command -v "$PY_ARG") || { echo "python '$PY_ARG' not found" >&2; exit 2; }
fi
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SELECT=${PEER_SELECT:-}
[ -n "$SELECT" ] && [ -f "$SELECT" ] || { echo "give PEER_SELECT=FILE: one tests_pytorch node id per line" >&2; exit 2; }
SELECT="$(cd "$(dirname "$SELECT")" && pwd)/$(basename "$SELECT")"
git --git-dir="$MIRROR" rev-parse --verify -q "${PEER_COMMIT:-HEAD}^{commit}" >/dev/null \
    || { echo "'$MIRROR' is not a git dir with commit ${PEER_COMMIT:-HEAD}" >&2; exit 2; }
if ! "$PY" -c "import $IMPL" >/dev/null 2>&1; then
    echo "warning: 'import $IMPL' fails with $PY: $("$PY" -c "import $IMPL" 2>&1 | tail -n 1)" >&2
fi

W=$(mktemp -d "${TMPDIR:-/tmp}/peer_${IMPL}.XXXXXX")
mkdir -p "$W/src" "$W/tests" "$W/tmp" "$W/_peer"
# git archive of a path subset may print "invalid object" for unrelated large files of a partial mirror
git --git-dir="$MIRROR" archive "${PEER_COMMIT:-HEAD}" tests/tests_pytorch src/lightning/pytorch/demos/boring_classes.py \
    2>"$W/git_archive.err" | tar -x -C "$W/src"
if [ ! -f "$W/src/tests/tests_pytorch/__init__.py" ] || [ ! -f "$W/src/src/lightning/pytorch/demos/boring_classes.py" ]; then
    echo "extraction from $MIRROR failed:" >&2
    cat "$W/git_archive.err" >&2
    exit 2
fi
mv "$W/src/tests/tests_pytorch" "$W/tests/tests_pytorch"
if [ "${PEER_DEMOS:-mirror}" = mirror ]; then
    mkdir -p "$W/tests/peer_demos"
    mv "$W/src/src/lightning/pytorch/demos/boring_classes.py" "$W/tests/peer_demos/boring_classes.py"
    echo '"""BoringModel & co. from the mirror, rewritten onto the implementation under test."""' \
        > "$W/tests/peer_demos/__init__.py"
    DEMOS_FLAG=--demos-mirror
else
    DEMOS_FLAG=
fi
rm -rf "$W/src"

# ---------------------------------------------------------------- own files written into the temp dir
cat > "$W/_peer/peer_shims.py" <<'PEER_EOF_peer_shims_py'
"""peer-suite shims: small stand-ins written for the peer suite (not Lightning code).

* `_peer_missing(module, name, err)` returns a placeholder for a module-level import that failed, so that
  a test file still imports and only the tests that really use the name fail (with PeerMissingName).
* replacements for the few `lightning_utilities` helpers the tests import (no_warning_call, RequirementCache,
  compare_version, module_available, apply_to_collection).
* private availability/version flags computed here instead of importing them from the implementation.
"""
import contextlib
import importlib
import importlib.metadata
import importlib.util
import os
import re
import warnings

import torch
from packaging.version import Version

MISSING = {}  # "module:name" -> first error message


class PeerMissingName(ImportError):
    """A name that the implementation (or an optional package) does not provide was used."""


class _MissingMeta(type):
    def __getattr__(cls, attr):
        if attr.startswith("__") and attr.endswith("__"):
            raise AttributeError(attr)
        return _peer_missing(cls._peer_module, f"{cls._peer_name}.{attr}", cls._peer_error, record=False)

    def __call__(cls, *args, **kwargs):
        raise PeerMissingName(f"{cls._peer_module}.{cls._peer_name} is not available: {cls._peer_error}")

    def __bool__(cls):
        return False

    def __repr__(cls):
        return f"<missing {cls._peer_module}.{cls._peer_name}>"

    def __iter__(cls):
        raise PeerMissingName(f"{cls._peer_module}.{cls._peer_name} is not available: {cls._peer_error}")


def _peer_missing(module, name, err="", record=True):
    """Placeholder class: subclassing/isinstance/attribute access work, calling it raises PeerMissingName.
    It derives from Exception so that `pytest.raises(Missing)` simply fails instead of erroring."""
    if record:
        MISSING.setdefault(f"{module}:{name}", str(err).splitlines()[0] if err else "")
    return _MissingMeta(str(name).split(".")[-1], (Exception,),
                        {"_peer_module": module, "_peer_name": name, "_peer_error": str(err)})


# ---------------------------------------------------------------- lightning_utilities stand-ins
def module_available(name: str) -> bool:
    try:
        return importlib.util.find_spec(name.split(".")[0]) is not None and (
            "." not in name or importlib.util.find_spec(name) is not None)
    except Exception:
        return False


def _dist_version(name):
    try:
        return Version(importlib.metadata.version(name))
    except Exception:
        try:
            return Version(str(importlib.import_module(name).__version__).split("+")[0])
        except Exception:
            return None


def compare_version(package: str, op, version: str, use_base_version: bool = False) -> bool:
    v = _dist_version(package)
    if v is None:
        return False
    if use_base_version:
        v = Version(v.base_version)
    return op(v, Version(version))


class RequirementCache:
    """Truthy iff the requirement string (e.g. 'hydra-core<1.1' or 'torch>=2.0') is satisfied."""

    def __init__(self, requirement: str, module=None):
        self.requirement = requirement
        self.module = module

    def __bool__(self):
        from packaging.requirements import Requirement

        try:
            req = Requirement(self.requirement)
        except Exception:
            return module_available(self.requirement)
        v = _dist_version(req.name)
        return v is not None and (not req.specifier or req.specifier.contains(v, prereleases=True))

    def __str__(self):
        return f"Requirement {self.requirement!r} {'met' if self else 'not met'}"

    __repr__ = __str__


@contextlib.contextmanager
def no_warning_call(expected_warning=Warning, match=None):
    """Fail if a matching warning is emitted inside the block."""
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        yield
    for w in record:
        if issubclass(w.category, expected_warning) and (match is None or re.search(match, str(w.message))):
            raise AssertionError(f"`{expected_warning.__name__}` was raised: {w.message!r}")


def apply_to_collection(data, dtype, function, *args, **kwargs):
    """Apply `function` to every element of type `dtype` in a (nested) list/tuple/dict."""
    if isinstance(data, dtype):
        return function(data, *args, **kwargs)
    if isinstance(data, dict):
        return type(data)({k: apply_to_collection(v, dtype, function, *args, **kwargs) for k, v in data.items()})
    if isinstance(data, (list, tuple)):
        out = [apply_to_collection(v, dtype, function, *args, **kwargs) for v in data]
        return out if isinstance(data, list) else type(data)(out)
    return data


# ---------------------------------------------------------------- private flags the tests import
_TORCH_VERSION = Version(torch.__version__.split("+")[0])
_IS_WINDOWS = os.name == "nt"
_OMEGACONF_AVAILABLE = module_available("omegaconf")
_RICH_AVAILABLE = module_available("rich")
_TENSORBOARD_AVAILABLE = module_available("tensorboard")
_TENSORBOARDX_AVAILABLE = module_available("tensorboardX")


_FLAGS = {
    "_IS_WINDOWS": _IS_WINDOWS,
    "_OMEGACONF_AVAILABLE": _OMEGACONF_AVAILABLE,
    "_RICH_AVAILABLE": _RICH_AVAILABLE,
    "_TENSORBOARD_AVAILABLE": _TENSORBOARD_AVAILABLE,
    "_TENSORBOARDX_AVAILABLE": _TENSORBOARDX_AVAILABLE,
}
FLAG_PATTERN = r"_IS_WINDOWS|_\w+_AVAILABLE|_(?:TORCH|TORCHMETRICS|PYTHON)_GREATER_EQUAL_\d+_\d+(?:_\d+)?"


def _peer_flag(name):
    """Value of a private `_X_AVAILABLE` / `_TORCH_GREATER_EQUAL_A_B` style flag, computed here."""
    if name in _FLAGS:
        return _FLAGS[name]
    m = re.fullmatch(r"_(TORCH|TORCHMETRICS|PYTHON)_GREATER_EQUAL_(\d+)_(\d+)(?:_(\d+))?", name)
    if m:
        want = Version(".".join(p for p in m.group(2, 3, 4) if p is not None))
        if m.group(1) == "TORCH":
            have = _TORCH_VERSION
        elif m.group(1) == "PYTHON":
            import sys

            have = Version(".".join(map(str, sys.version_info[:3])))
        else:
            have = _dist_version("torchmetrics") or Version("0")
        return have >= want
    m = re.fullmatch(r"_(\w+?)_AVAILABLE", name)
    if m:
        return module_available(m.group(1).lower())
    raise KeyError(name)


def _load(path_or_url, map_location=None, weights_only=False, **kwargs):
    """Stand-in for the private checkpoint loader some test files import."""
    return torch.load(path_or_url, map_location=map_location, weights_only=weights_only)
PEER_EOF_peer_shims_py

cat > "$W/_peer/conftest.py" <<'PEER_EOF_conftest_py'
"""peer-suite conftest (replaces Lightning's tests_pytorch/conftest.py, which imports Lightning internals).

Provides: env-var restore, determinism reset, a `caplog` that sees the implementation's loggers, the
`mock_*` helpers some test files import, a per-test timeout (PEER_TEST_TIMEOUT, default 60 s: SIGALRM, plus a
faulthandler hard-exit 30 s later), and a progress log (PEER_RESULTS_LOG) that the runner tallies.
"""
import faulthandler
import logging
import os
import signal
import sys
import time

import pytest
import torch

import peer_shims

_TIMEOUT = float(os.environ.get("PEER_TEST_TIMEOUT", "60"))
# A DDP launcher that re-runs the command (fastlit's, Lightning's "ddp") starts the whole pytest session again as
# rank 1..N-1; those copies must not record results (a rank != 0 suppresses rank-zero logs, which tests check).
_LOG = os.environ.get("PEER_RESULTS_LOG") if os.environ.get("RANK", os.environ.get("LOCAL_RANK", "0")) == "0" \
    else None
_IMPL = os.environ.get("PEER_IMPL", "pytorch_lightning")
_starts = {}


def _log(line):
    if _LOG:
        with open(_LOG, "a") as f:
            f.write(line + "\n")


@pytest.fixture(autouse=True)
def restore_env_variables():
    env_backup = os.environ.copy()
    yield
    os.environ.clear()
    os.environ.update(env_backup)


@pytest.fixture(autouse=True)
def reset_deterministic_algorithm():
    yield
    torch.use_deterministic_algorithms(False)


@pytest.fixture
def caplog(caplog):
    """Lightning's loggers do not propagate to the root logger; let caplog see them."""
    prefixes = (_IMPL, "pytorch_lightning", "lightning_fabric", "lightning")
    root = logging.getLogger()
    root_propagate = root.propagate
    root.propagate = True
    saved = {n: logging.getLogger(n).propagate for n in list(logging.root.manager.loggerDict) if n.startswith(prefixes)}
    for n in saved:
        logging.getLogger(n).propagate = True
    yield caplog
    root.propagate = root_propagate
    for n, p in saved.items():
        logging.getLogger(n).propagate = p


# names some test files import from Lightning's conftest; the selected tests do not use them
def mock_cuda_count(monkeypatch, n: int) -> None:
    monkeypatch.setattr(torch.cuda, "device_count", lambda: n)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: n > 0)


def mock_mps_count(monkeypatch, n: int) -> None:
    pytest.skip("peer suite: mock_mps_count is not provided")


def mock_xla_available(monkeypatch, value: bool = True) -> None:
    pytest.skip("peer suite: mock_xla_available is not provided")


def mock_tpu_available(monkeypatch, value: bool = True) -> None:
    pytest.skip("peer suite: mock_tpu_available is not provided")


class PeerTimeout(BaseException):
    pass


def _on_alarm(signum, frame):
    raise PeerTimeout(f"test exceeded {_TIMEOUT:g}s (peer-suite per-test timeout)")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    _starts[item.nodeid] = time.monotonic()
    _log(f"START\t{item.nodeid}")
    old = signal.signal(signal.SIGALRM, _on_alarm)
    signal.setitimer(signal.ITIMER_REAL, _TIMEOUT)
    # if the test is stuck where SIGALRM cannot interrupt it, dump stacks and end the process
    faulthandler.dump_traceback_later(_TIMEOUT + 30, exit=True)
    try:
        yield
    finally:
        faulthandler.cancel_dump_traceback_later()
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


_outcomes = {}


def _short(longrepr) -> str:
    text = str(longrepr or "").strip()
    lines = [ln for ln in text.splitlines() if ln.strip()]
    errs = [ln for ln in lines if ln.startswith("E ")]
    return (errs[0] if errs else (lines[-1] if lines else "")).replace("\t", " ")[:300]


def pytest_runtest_logreport(report):
    nid = report.nodeid
    if report.outcome != "passed" or report.when == "call":
        if _outcomes.get(nid, ("",))[0] not in ("failed", "error"):
            outcome = report.outcome
            if report.when != "call" and report.outcome == "failed":
                outcome = "error"
            _outcomes[nid] = (outcome, _short(report.longrepr) if outcome in ("failed", "error") else "")
    if report.when == "teardown":
        outcome, msg = _outcomes.get(nid, ("error", "no call phase"))
        took = time.monotonic() - _starts.get(nid, time.monotonic())
        _log(f"END\t{outcome}\t{nid}\t{msg}\t{took:.2f}")


def pytest_collectreport(report):
    if report.failed:
        _log(f"COLLECTERROR\t{report.nodeid}\t{_short(report.longrepr)}")


def pytest_sessionfinish(session, exitstatus):
    if _LOG and peer_shims.MISSING:
        with open(_LOG + ".missing", "a") as f:
            for k, v in sorted(peer_shims.MISSING.items()):
                f.write(f"{k}\t{v}\n")
PEER_EOF_conftest_py

cat > "$W/_peer/runif.py" <<'PEER_EOF_runif_py'
"""peer-suite stand-in for tests_pytorch/helpers/runif.py (Lightning's version imports Lightning internals).

`RunIf(**conditions)` returns a `pytest.mark.skipif` that skips when a condition is not met here.
"""
import importlib.util
import os
import sys

import pytest
import torch
from packaging.version import Version


def _have(mod: str) -> bool:
    try:
        return importlib.util.find_spec(mod) is not None
    except Exception:
        return False


def RunIf(min_cuda_gpus=0, min_torch=None, max_torch=None, min_python=None, bf16_cuda=False, tpu=False, mps=None,
          skip_windows=False, standalone=False, deepspeed=False, dynamo=False, rich=False, omegaconf=False,
          psutil=False, sklearn=False, onnx=False, linux_only=False, onnxscript=False, tensorrt=False, **unknown):
    reasons = []
    torch_version = Version(torch.__version__.split("+")[0])
    if min_cuda_gpus and torch.cuda.device_count() < min_cuda_gpus:
        reasons.append(f"GPUs>={min_cuda_gpus}")
    if min_torch and torch_version < Version(min_torch):
        reasons.append(f"torch>={min_torch}")
    if max_torch and torch_version >= Version(max_torch):
        reasons.append(f"torch<{max_torch}")
    if min_python and Version(".".join(map(str, sys.version_info[:3]))) < Version(min_python):
        reasons.append(f"python>={min_python}")
    if bf16_cuda:
        reasons.append("bf16 on CUDA")
    if tpu:
        reasons.append("TPU")
    mps_ok = hasattr(torch.backends, "mps") and torch.backends.mps.is_available()
    if mps is True and not mps_ok:
        reasons.append("MPS")
    if mps is False and mps_ok:
        reasons.append("no MPS")
    if skip_windows and sys.platform == "win32":
        reasons.append("not Windows")
    if linux_only and not sys.platform.startswith("linux"):
        reasons.append("Linux")
    if standalone and os.getenv("PL_RUN_STANDALONE_TESTS", "0") != "1":
        reasons.append("standalone")
    if dynamo:
        reasons.append("dynamo (not checked by the peer suite)")
    for flag, mod in ((deepspeed, "deepspeed"), (rich, "rich"), (omegaconf, "omegaconf"), (psutil, "psutil"),
                      (sklearn, "sklearn"), (onnx, "onnx"), (onnxscript, "onnxscript"), (tensorrt, "torch_tensorrt")):
        if flag and not _have(mod):
            reasons.append(mod)
    if unknown:
        reasons.append("unknown RunIf arguments " + ", ".join(sorted(unknown)))
    return pytest.mark.skipif(condition=len(reasons) > 0, reason=f"Requires: [{' + '.join(reasons)}]")


# imported by some test files; only relevant on Windows
_xfail_gloo_windows = pytest.mark.xfail(False, reason="gloo on Windows", strict=True)
PEER_EOF_runif_py

cat > "$W/_peer/rewrite.py" <<'PEER_EOF_rewrite_py'
"""peer-suite rewriter: point Lightning's test files at another implementation.

usage: rewrite.py IMPL TESTS_DIR [--strict] [--demos-mirror]
Text rewrite of every .py under TESTS_DIR (in place):
  lightning.pytorch.demos -> peer_demos      (with --demos-mirror)
  lightning.pytorch       -> IMPL
  lightning.fabric        -> IMPL            (the public fabric names the tests use are re-exported by
                                              pytorch_lightning under the same sub-paths)
then an AST pass over module-level imports (also inside module-level if/try):
  lightning_utilities.*            -> peer_shims (own stand-ins)
  private flags (_X_AVAILABLE, _TORCH_GREATER_EQUAL_A_B, _IS_WINDOWS) -> computed by peer_shims
  IMPL...cloud_io._load            -> peer_shims._load
  every other import               -> try/except that binds a placeholder on failure (unless --strict)
"""
import ast
import pathlib
import re
import sys

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from peer_shims import FLAG_PATTERN  # noqa: E402

IMPL = sys.argv[1]
ROOT = pathlib.Path(sys.argv[2])
STRICT = "--strict" in sys.argv
DEMOS_MIRROR = "--demos-mirror" in sys.argv
PRELUDE = "from peer_shims import _peer_missing as _PEER_MISSING, _peer_flag as _PEER_FLAG  # peer-suite"


def text_rewrite(src: str) -> str:
    if DEMOS_MIRROR:
        src = re.sub(r"\blightning\.pytorch\.demos\b", "peer_demos", src)
    src = re.sub(r"\blightning\.pytorch\b", IMPL, src)
    src = re.sub(r"\blightning\.fabric\b", IMPL, src)
    return src


_NEVER_WRAP = set(getattr(sys, "stdlib_module_names", ())) | {"torch", "pytest", "numpy", "yaml", "packaging", "peer_shims"}


def _wrap(mod: str) -> bool:
    """Only imports that may legitimately be missing get a placeholder fallback."""
    return not STRICT and mod.split(".")[0] not in _NEVER_WRAP


def _is_impl(mod: str) -> bool:
    return mod == IMPL or mod.startswith(IMPL + ".")


def gen_importfrom(node: ast.ImportFrom, ind: str) -> str:
    mod = node.module or ""
    out = []
    if mod.startswith("lightning_utilities"):
        mod = "peer_shims"
    for a in node.names:
        target = a.asname or a.name
        imp = f"from {mod} import {a.name}" + (f" as {a.asname}" if a.asname else "")
        if a.name == "*":
            out.append(ind + imp)
        elif _is_impl(mod) and re.fullmatch(FLAG_PATTERN, a.name):
            out.append(f"{ind}{target} = _PEER_FLAG({a.name!r})")
        elif _is_impl(mod) and a.name == "_load" and mod.endswith("cloud_io"):
            out.append(f"{ind}from peer_shims import _load as {target}")
        elif not _wrap(mod):
            out.append(ind + imp)
        else:
            out += [f"{ind}try:", f"{ind}    {imp}",
                    f"{ind}except Exception as _peer_err:",
                    f"{ind}    {target} = _PEER_MISSING({mod!r}, {a.name!r}, _peer_err)"]
    return "\n".join(out)


def gen_import(node: ast.Import, ind: str) -> str:
    out = []
    for a in node.names:
        imp = f"import {a.name}" + (f" as {a.asname}" if a.asname else "")
        if not _wrap(a.name):
            out.append(ind + imp)
        elif a.asname or "." not in a.name:
            target = a.asname or a.name
            out += [f"{ind}try:", f"{ind}    {imp}", f"{ind}except Exception as _peer_err:",
                    f"{ind}    {target} = _PEER_MISSING({a.name!r}, '', _peer_err)"]
        else:  # `import a.b.c` binds `a`
            top = a.name.split(".")[0]
            out += [f"{ind}try:", f"{ind}    {imp}", f"{ind}except Exception as _peer_err:",
                    f"{ind}    try:", f"{ind}        import {top}", f"{ind}    except Exception:",
                    f"{ind}        {top} = _PEER_MISSING({a.name!r}, '', _peer_err)"]
    return "\n".join(out)


def transform(src: str) -> str:
    tree = ast.parse(src)
    lines = src.splitlines(keepends=True)
    edits = []  # (start_line, end_line, text)

    def visit(body):
        starts = {}
        for st in body:
            for ln in range(st.lineno, st.end_lineno + 1):
                starts[ln] = starts.get(ln, 0) + 1
        for st in body:
            shared = any(starts[ln] > 1 for ln in range(st.lineno, st.end_lineno + 1))
            if isinstance(st, ast.ImportFrom) and st.level == 0 and st.module != "__future__" and not shared:
                edits.append((st.lineno, st.end_lineno, gen_importfrom(st, " " * st.col_offset)))
            elif isinstance(st, ast.Import) and not shared:
                edits.append((st.lineno, st.end_lineno, gen_import(st, " " * st.col_offset)))
            elif isinstance(st, ast.If):
                visit(st.body)
                visit(st.orelse)
            elif isinstance(st, ast.Try):
                visit(st.body)
                for h in st.handlers:
                    visit(h.body)
                visit(st.orelse)
                visit(st.finalbody)

    visit(tree.body)
    # prelude goes before the first statement that is neither the docstring nor a __future__ import
    first = None
    for i, st in enumerate(tree.body):
        if i == 0 and isinstance(st, ast.Expr) and isinstance(getattr(st, "value", None), ast.Constant) \
                and isinstance(st.value.value, str):
            continue
        if isinstance(st, ast.ImportFrom) and st.module == "__future__":
            continue
        first = st.lineno
        if getattr(st, "decorator_list", None):
            first = min([first] + [d.lineno for d in st.decorator_list])
        break
    for start, end, text in sorted(edits, reverse=True):
        lines[start - 1:end] = [text + "\n"]
    if first is not None:
        lines.insert(first - 1, PRELUDE + "\n")
    return "".join(lines)


def process(path: pathlib.Path) -> None:
    src = path.read_text()
    new = transform(text_rewrite(src))
    compile(new, str(path), "exec")  # fail loudly if the rewrite broke the file
    path.write_text(new)


if __name__ == "__main__":
    n = 0
    for p in sorted(ROOT.rglob("*.py")):
        process(p)
        n += 1
    print(f"rewrote {n} files under {ROOT} for {IMPL}")
PEER_EOF_rewrite_py

cat > "$W/_peer/driver.py" <<'PEER_EOF_driver_py'
"""peer-suite driver: run the selected node ids with pytest (restarting after a hard crash) and tally.

usage: driver.py WORK_TESTS_DIR SELECT_FILE IMPL
"""
import collections
import os
import re
import subprocess
import sys
import time

tests_dir, select_file, impl = sys.argv[1:4]
log_path = os.path.join(os.path.dirname(tests_dir), "peer_results.log")
os.environ["PEER_RESULTS_LOG"] = log_path
os.environ["PEER_IMPL"] = impl

ids = []
for line in open(select_file):
    line = line.split("#", 1)[0].strip() if not line.lstrip().startswith("#") else ""
    if line:
        ids.append(line)
flt = os.environ.get("PEER_FILTER")
if flt:
    ids = [i for i in ids if re.search(flt, i)]
if not ids:
    print("no node ids selected")
    print("0 passed, 0 failed")
    sys.exit(1)

PREFIX = "tests_pytorch/"
done, started, collect_errors, durations = {}, set(), [], {}


def read_log():
    done.clear()
    started.clear()
    collect_errors.clear()
    if not os.path.exists(log_path):
        return
    for line in open(log_path):
        parts = line.rstrip("\n").split("\t")
        if parts[0] == "START" and len(parts) >= 2:
            started.add(parts[1].removeprefix(PREFIX))
        elif parts[0] == "END" and len(parts) >= 3:
            done[parts[2].removeprefix(PREFIX)] = (parts[1], parts[3] if len(parts) > 3 else "")
            if len(parts) > 4:
                durations[parts[2].removeprefix(PREFIX)] = float(parts[4])
        elif parts[0] == "COLLECTERROR":
            collect_errors.append(" ".join(parts[1:]))


t0 = time.time()
extra = os.environ.get("PEER_PYTEST_ARGS", "").split()
base_cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly",
            f"--basetemp={os.path.join(os.path.dirname(tests_dir), 'pytest_tmp')}", "-o", "console_output_style=classic",
            "--tb=short", "-rN", *extra]
# collect first: an unknown node id makes pytest refuse to run anything, and a file that fails to import
# must not take the other files down with it
collect = subprocess.run(base_cmd + ["--collect-only", "--continue-on-collection-errors",
                                     *sorted({PREFIX + i.split("::")[0] for i in ids})],
                         cwd=tests_dir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
with open(os.path.join(os.path.dirname(tests_dir), "pytest_collect.txt"), "w") as f:
    f.write(collect.stdout)
collected = {ln.strip().removeprefix(PREFIX) for ln in collect.stdout.splitlines() if "::" in ln and not ln.startswith(" ")}
# a bare file or function id (no "::" / no "[param]") stands for everything collected under it
expanded = []
for i in ids:
    if i in collected:
        expanded.append(i)
        continue
    under = sorted(c for c in collected if c.startswith(i + "::") or c.startswith(i + "["))
    expanded.extend(under or [i])
ids = list(dict.fromkeys(expanded))
not_collected = [i for i in ids if i not in collected]
read_log()
file_errors = dict(ce.split(" ", 1) if " " in ce else (ce, "") for ce in collect_errors)
if os.path.exists(log_path):
    os.remove(log_path)
pending = [i for i in ids if i in collected]
base_cmd.append("--continue-on-collection-errors")
crashed = {}
for attempt in range(1, 21):
    if not pending:
        break
    proc = subprocess.run(base_cmd + [PREFIX + i for i in pending], cwd=tests_dir,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    with open(os.path.join(os.path.dirname(tests_dir), f"pytest_output_{attempt}.txt"), "w") as f:
        f.write(proc.stdout)
    read_log()
    stuck = [i for i in pending if i in started and i not in done]
    if not stuck:
        if proc.returncode not in (0, 1):
            tail = "\n".join(proc.stdout.strip().splitlines()[-15:])
            print(f"pytest exited with code {proc.returncode}; last lines:\n{tail}")
        break
    for i in stuck:  # the process died inside this test (hard timeout / crash): count it, go on without it
        crashed[i] = (f"pytest stopped inside this test (exit {proc.returncode}: hard timeout, crash or an escaped "
                      "KeyboardInterrupt); the remaining tests were run in a new pytest process")
    pending = [i for i in pending if i not in started]
    if not pending:
        break
elapsed = time.time() - t0

counts = collections.Counter()
per_file = collections.defaultdict(collections.Counter)
failures = []
for i in ids:
    if i in crashed:
        outcome, msg = "failed", crashed[i]
    elif i in done:
        outcome, msg = done[i]
    elif i in not_collected:
        fe = file_errors.get(PREFIX + i.split("::")[0])
        outcome, msg = "error", (f"test file failed to import: {fe}" if fe is not None else "node id not collected")
    else:
        outcome, msg = "error", "not run"
    kind = {"passed": "passed", "skipped": "skipped"}.get(outcome, "failed")
    counts[kind] += 1
    if outcome == "error":
        counts["errors"] += 1
    per_file[i.split("::")[0]][kind] += 1
    if kind == "failed":
        failures.append(f"FAIL [{outcome}] {i}: {msg}")

for line in failures:
    print(line)
for ce in collect_errors:
    print(f"COLLECTION ERROR {ce}")
print("per file (passed/total):")
for f in sorted(per_file):
    c = per_file[f]
    print(f"  {c['passed']:4d}/{sum(c.values()):4d}  {f}")
missing_path = log_path + ".missing"
if os.path.exists(missing_path):
    names = sorted({ln.split("\t")[0].rstrip(":") for ln in open(missing_path) if ln.strip()})
    mine = [n for n in names if n.startswith((impl + ".", impl + ":", "peer_demos"))]
    other = [n for n in names if n not in mine]
    if mine:
        print(f"names the test files import from {impl} that could not be imported ({len(mine)}; "
              "placeholders were used, only tests that use them fail):")
        for n in mine:
            print("  " + n)
    if other:
        print(f"other module-level imports that failed ({len(other)}): " + ", ".join(other))
slow = sorted(durations.items(), key=lambda kv: -kv[1])[:5]
if slow:
    print("slowest: " + ", ".join(f"{k} {v:.1f}s" for k, v in slow))
print(f"time {elapsed:.0f}s ({len(ids)} node ids, impl={impl})")
if counts["errors"]:
    print(f"({counts['errors']} of the failures are setup/collection errors)")
tail = f"{counts['passed']} passed, {counts['failed']} failed"
if counts["skipped"]:
    tail += f", {counts['skipped']} skipped"
print(tail)
sys.exit(0 if counts["failed"] == 0 else 1)
PEER_EOF_driver_py

# ---------------------------------------------------------------- assemble and run
cat > "$W/tests/pytest.ini" <<'INI'
[pytest]
xfail_strict = true
INI
STRICT_FLAG=
[ "${PEER_STRICT_IMPORTS:-0}" = 1 ] && STRICT_FLAG=--strict
# shellcheck disable=SC2086
if ! PYTHONPATH="$W/_peer" "$PY" "$W/_peer/rewrite.py" "$IMPL" "$W/tests" $STRICT_FLAG $DEMOS_FLAG > "$W/rewrite.log" 2>&1; then
    echo "import rewrite failed:" >&2
    tail -n 20 "$W/rewrite.log" >&2
    exit 2
fi
# own files go in after the rewrite (Lightning's conftest.py and helpers/runif.py import internals)
cp "$W/_peer/peer_shims.py" "$W/tests/peer_shims.py"
cp "$W/_peer/conftest.py" "$W/tests/tests_pytorch/conftest.py"
cp "$W/_peer/runif.py" "$W/tests/tests_pytorch/helpers/runif.py"

EXTRA_PATH="$W/tests"
if [ "$IMPL" != pytorch_lightning ] && [ "${PEER_BLOCK_LIGHTNING:-0}" = 1 ]; then
    mkdir -p "$W/_block"
    cat > "$W/_block/sitecustomize.py" <<'PYEOF'
import sys

_BLOCKED = ("pytorch_lightning", "lightning", "lightning_fabric")


class _BlockLightning:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in _BLOCKED:
            raise ImportError(f"peer suite: importing {name!r} is blocked (PEER_BLOCK_LIGHTNING=1)")
        return None


sys.meta_path.insert(0, _BlockLightning())
PYEOF
    EXTRA_PATH="$W/_block:$EXTRA_PATH"
fi

echo "peer suite: impl=$IMPL python=$PY mirror=$(git --git-dir="$MIRROR" rev-parse --short "${PEER_COMMIT:-HEAD}") workdir=$W"
(
    cd "$W/tests" || exit 97
    export TMPDIR="$W/tmp"
    export PYTHONDONTWRITEBYTECODE=1
    export PYTHONPATH="$EXTRA_PATH${PYTHONPATH:+:$PYTHONPATH}"
    exec "$PY" "$W/_peer/driver.py" "$W/tests" "$SELECT" "$IMPL"
)
rc=$?
if [ $rc -eq 0 ] && [ "${PEER_KEEP:-0}" != 1 ]; then
    rm -rf "$W"
else
    echo "(work dir kept: $W — pytest output in pytest_output_*.txt, per-test log in peer_results.log)" >&2
fi
exit $rc
