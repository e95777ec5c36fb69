"""setup.py's build decisions: DEBUG=1 flags, FASTLIT_NO_EXTENSION=1 (pure Python), the CUDA choice.

setup.py only calls setup() when run as __main__ (as pip and setuptools run it), so its functions import here.
"""
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

SETUP_PY = Path(__file__).resolve().parents[2] / "setup.py"


def _load():
    spec = importlib.util.spec_from_file_location("fastlit_setup_under_test", SETUP_PY)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


setup_py = _load()

RELEASE_CXX = ["-O3", "-fno-math-errno", "-fno-trapping-math", "-std=c++20", "-Wno-unknown-pragmas", "-Wno-psabi"]
RELEASE_NVCC = ["-O3", "-std=c++20", "--expt-relaxed-constexpr", "-lineinfo"]


@pytest.mark.parametrize("env", [{}, {"DEBUG": "0"}, {"DEBUG": ""}])
def test_release_flags(env):
    flags = setup_py.compile_flags(env, "Linux", openmp=True)
    assert flags == {"cxx": RELEASE_CXX + ["-fopenmp"], "nvcc": RELEASE_NVCC, "link": ["-fopenmp"]}
    assert setup_py.compile_flags(env, "Linux", openmp=False)["cxx"] == RELEASE_CXX


def test_debug_flags():
    flags = setup_py.compile_flags({"DEBUG": "1"}, "Linux", openmp=True)
    assert flags["cxx"][:2] == ["-O0", "-g"] and "-O3" not in flags["cxx"] and "-fopenmp" in flags["cxx"]
    assert {"-O0", "-g", "-G"} <= set(flags["nvcc"]) and not {"-O3", "-lineinfo"} & set(flags["nvcc"])
    assert "--expt-relaxed-constexpr" in flags["nvcc"] and "-std=c++20" in flags["nvcc"]
    assert setup_py.compile_flags({"DEBUG": "1"}, "Windows", openmp=True)["cxx"] == ["/Od", "/Zi", "/std:c++20"]
    assert setup_py.compile_flags({}, "Windows", openmp=True)["cxx"] == ["/O2", "/std:c++20"]


@pytest.mark.parametrize("env, toolkit, expected", [
    ({}, False, False),
    ({}, True, True),
    ({"FORCE_CUDA": "1"}, False, True),
    ({"FASTLIT_NO_CUDA": "1"}, True, False),
    ({"FASTLIT_NO_CUDA": "1", "FORCE_CUDA": "1"}, True, False),
])
def test_cuda_choice(env, toolkit, expected):
    assert setup_py.want_cuda(env, toolkit) is expected


def test_default_build_has_the_extension():
    kwargs = setup_py.setup_kwargs({})
    (ext,) = kwargs["ext_modules"]
    assert ext.name == "fastlit._C" and ext.py_limited_api
    assert "csrc/registry.cpp" in ext.sources and ext.extra_compile_args["cxx"][0] == "-O3"
    assert "build_ext" in kwargs["cmdclass"]
    assert ("FASTLIT_DEBUG", "1") not in ext.define_macros
    (debug,) = setup_py.setup_kwargs({"DEBUG": "1"})["ext_modules"]
    assert debug.extra_compile_args["cxx"][:2] == ["-O0", "-g"] and ("FASTLIT_DEBUG", "1") in debug.define_macros


def test_no_extension_build_is_pure_python_and_needs_no_torch():
    # A blocked `import torch` proves the pure-Python build works in an isolated build env (no torch there).
    code = (
        "import sys, importlib.util\n"
        "sys.modules['torch'] = None\n"
        f"spec = importlib.util.spec_from_file_location('s', {str(SETUP_PY)!r})\n"
        "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)\n"
        "print(m.setup_kwargs({'FASTLIT_NO_EXTENSION': '1'}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "{}"
    assert setup_py.want_extension({"FASTLIT_NO_EXTENSION": "0"}) and setup_py.want_extension({})
