"""Builds fastlit's one C++/CUDA extension, `fastlit._C`.

Install with `pip install --no-build-isolation -e .` so the extension compiles against the torch already
installed (pip must never fetch another torch). Environment knobs:
  FORCE_CUDA=1           build csrc/cuda/*.cu even when no CUDA torch / nvcc is detected
  FASTLIT_NO_CUDA=1      never build the CUDA sources
  MAX_JOBS=N             parallel compile jobs (default: number of CPUs)
  TORCH_CUDA_ARCH_LIST   GPU architectures, e.g. "8.0 9.0" (torch's default: the visible GPUs)
"""
import glob
import os
import platform

import torch
from setuptools import setup
from torch.utils.cpp_extension import CUDA_HOME, BuildExtension, CppExtension, CUDAExtension

ROOT = os.path.dirname(os.path.abspath(__file__))


def _sources(*patterns: str) -> list:
    # Relative paths: setuptools refuses absolute source paths in editable builds.
    found = []
    for pattern in patterns:
        found += sorted(glob.glob(os.path.join("csrc", pattern), recursive=True))
    return found


def _want_cuda() -> bool:
    if os.environ.get("FASTLIT_NO_CUDA") == "1":
        return False
    if os.environ.get("FORCE_CUDA") == "1":
        return True
    nvcc = CUDA_HOME is not None and os.path.exists(os.path.join(CUDA_HOME, "bin", "nvcc"))
    return torch.version.cuda is not None and nvcc


# io/ holds the optional async checkpoint writer; cpu/** the kernels (one TU per CPU capability).
cpp_sources = _sources("registry.cpp", "cpu/**/*.cpp", "io/*.cpp")
cuda_sources = _sources("cuda/*.cu")
with_cuda = _want_cuda() and bool(cuda_sources)

# -O3 turns on the auto-vectorizer; -fno-math-errno lets sqrt inline. No -march=native: the binary must run on
# any x86-64. Wider SIMD (AVX2+FMA) lives in csrc/cpu/kernels_avx2.cpp behind a runtime CPU check.
cxx_flags = ["-O3", "-fno-math-errno", "-fno-trapping-math", "-std=c++20", "-Wno-unknown-pragmas", "-Wno-psabi"]
if platform.system() == "Windows":
    cxx_flags = ["/O2", "/std:c++20"]
link_flags = []
# at::parallel_for is an inline OpenMP loop: without -fopenmp it silently runs serial. The NEEDED libgomp.so.1
# resolves to the copy torch already loaded (same soname), so there is one OpenMP runtime in the process.
if torch.backends.openmp.is_available() and platform.system() == "Linux":
    cxx_flags.append("-fopenmp")
    link_flags.append("-fopenmp")
nvcc_flags = ["-O3", "-std=c++20", "--expt-relaxed-constexpr", "-lineinfo"]

macros = []  # Py_LIMITED_API is defined by torch for py_limited_api extensions
if with_cuda:
    macros.append(("FASTLIT_WITH_CUDA", "1"))
    ext_cls = CUDAExtension
    extra = {"cxx": cxx_flags, "nvcc": nvcc_flags}
    sources = cpp_sources + cuda_sources
else:
    ext_cls = CppExtension
    extra = {"cxx": cxx_flags}
    sources = cpp_sources

os.environ.setdefault("MAX_JOBS", str(os.cpu_count() or 1))

ext = ext_cls(
    name="fastlit._C",
    sources=sources,
    include_dirs=[os.path.join(ROOT, "csrc", "include"), os.path.join(ROOT, "csrc")],
    extra_compile_args=extra,
    extra_link_args=link_flags,
    define_macros=macros,
    py_limited_api=True,  # the module has no Python API beyond PyInit: one binary serves every CPython >= 3.10
)

setup(
    ext_modules=[ext],
    cmdclass={"build_ext": BuildExtension.with_options(use_ninja=True)},
    options={"bdist_wheel": {"py_limited_api": "cp310"}},  # torch defines Py_LIMITED_API=3.10
)
