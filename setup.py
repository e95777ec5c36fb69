"""Builds fastlit's one C++/CUDA extension, `fastlit._C`.

Install with `pip install --no-build-isolation -e .` so the extension compiles against the torch already
installed (pip must never fetch another torch). Environment knobs:
  FASTLIT_NO_EXTENSION=1 build no extension: pure Python; fastlit then runs on torch's fused / foreach ops and
                         warns once that it does (fastlit/_ext.py)
  DEBUG=1                debug build: -O0 -g (and -G for nvcc: device code debuggable, unoptimised); with GCC
                         it has no AVX2 CPU kernels (see csrc/cpu/kernels_avx2.cpp)
  FORCE_CUDA=1           build csrc/cuda/*.cu even when no CUDA torch / nvcc is detected
  FASTLIT_NO_CUDA=1      never build the CUDA sources
  MAX_JOBS=N             parallel compile jobs (default: number of CPUs)
  TORCH_CUDA_ARCH_LIST   GPU architectures, e.g. "8.0 9.0" (torch's default: the visible GPUs)
"""
import glob
import os
import platform
from typing import Mapping

from setuptools import setup

ROOT = os.path.dirname(os.path.abspath(__file__))


def _on(env: Mapping[str, str], name: str) -> bool:
    return env.get(name) == "1"


def _sources(*patterns: str) -> list:
    # Relative paths: setuptools refuses absolute source paths in editable builds.
    found = []
    for pattern in patterns:
        matches = glob.glob(os.path.join(ROOT, "csrc", pattern), recursive=True)
        found += sorted(os.path.relpath(m, ROOT) for m in matches)
    return found


def want_extension(env: Mapping[str, str]) -> bool:
    return not _on(env, "FASTLIT_NO_EXTENSION")


def want_cuda(env: Mapping[str, str], cuda_toolkit: bool) -> bool:
    """cuda_toolkit: torch is a CUDA build and nvcc exists."""
    if _on(env, "FASTLIT_NO_CUDA"):
        return False
    return _on(env, "FORCE_CUDA") or cuda_toolkit


def compile_flags(env: Mapping[str, str], system: str, openmp: bool) -> dict:
    """{"cxx", "nvcc", "link"} flag lists; DEBUG=1 swaps the optimisation flags for debug ones."""
    debug = _on(env, "DEBUG")
    if system == "Windows":
        cxx = ["/Od", "/Zi", "/std:c++20"] if debug else ["/O2", "/std:c++20"]
    elif debug:  # no fast-math-style flags either: a debug build shows the plain semantics
        cxx = ["-O0", "-g", "-std=c++20", "-Wno-unknown-pragmas", "-Wno-psabi"]
    else:
        # -O3 turns on the auto-vectorizer; -fno-math-errno lets sqrt inline. No -march=native: the binary must run
        # on any x86-64. Wider SIMD (AVX2+FMA) lives in csrc/cpu/kernels_avx2.cpp behind a runtime CPU check.
        cxx = ["-O3", "-fno-math-errno", "-fno-trapping-math", "-std=c++20", "-Wno-unknown-pragmas", "-Wno-psabi"]
    link = []
    # at::parallel_for is an inline OpenMP loop: without -fopenmp it silently runs serial. The NEEDED libgomp.so.1
    # resolves to the copy torch already loaded (same soname), so there is one OpenMP runtime in the process.
    if openmp and system == "Linux":
        cxx.append("-fopenmp")
        link.append("-fopenmp")
    # -G: device debug info, no device optimisation (it supersedes -lineinfo, so that is left out).
    if debug:
        nvcc = ["-O0", "-g", "-G", "-std=c++20", "--expt-relaxed-constexpr"]
    else:
        nvcc = ["-O3", "-std=c++20", "--expt-relaxed-constexpr", "-lineinfo"]
    return {"cxx": cxx, "nvcc": nvcc, "link": link}


def _extension(env: Mapping[str, str]):
    import torch  # only here: a FASTLIT_NO_EXTENSION=1 build needs no torch at build time
    from torch.utils.cpp_extension import CUDA_HOME, CppExtension, CUDAExtension

    nvcc = CUDA_HOME is not None and os.path.exists(os.path.join(CUDA_HOME, "bin", "nvcc"))
    # io/ holds the optional async checkpoint writer; cpu/** the kernels (one TU per CPU capability).
    cpp_sources = _sources("registry.cpp", "cpu/**/*.cpp", "io/*.cpp")
    cuda_sources = _sources("cuda/*.cu")
    with_cuda = want_cuda(env, torch.version.cuda is not None and nvcc) and bool(cuda_sources)
    flags = compile_flags(env, platform.system(), torch.backends.openmp.is_available())
    macros = [("FASTLIT_WITH_CUDA", "1")] if with_cuda else []  # Py_LIMITED_API: torch defines it
    if _on(env, "DEBUG"):
        macros.append(("FASTLIT_DEBUG", "1"))  # csrc/cpu/kernels_avx2.cpp: GCC cannot build it at -O0
    return (CUDAExtension if with_cuda else CppExtension)(
        name="fastlit._C",
        sources=cpp_sources + (cuda_sources if with_cuda else []),
        include_dirs=[os.path.join(ROOT, "csrc", "include"), os.path.join(ROOT, "csrc")],
        extra_compile_args={"cxx": flags["cxx"], "nvcc": flags["nvcc"]} if with_cuda else {"cxx": flags["cxx"]},
        extra_link_args=flags["link"],
        define_macros=macros,
        py_limited_api=True,  # the module has no Python API beyond PyInit: one binary serves every CPython >= 3.10
    )


def setup_kwargs(env: Mapping[str, str]) -> dict:
    """setup()'s extension arguments: none for a pure-Python build."""
    if not want_extension(env):
        return {}
    from torch.utils.cpp_extension import BuildExtension

    return {
        "ext_modules": [_extension(env)],
        "cmdclass": {"build_ext": BuildExtension.with_options(use_ninja=True)},
        "options": {"bdist_wheel": {"py_limited_api": "cp310"}},  # torch defines Py_LIMITED_API=3.10
    }


if __name__ == "__main__":  # pip / setuptools run this file as __main__; tests import its functions
    os.environ.setdefault("MAX_JOBS", str(os.cpu_count() or 1))
    setup(**setup_kwargs(os.environ))
