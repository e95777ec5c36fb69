#!/usr/bin/env bash
# Compile-only check of every csrc/cuda/*.cu with nvcc for sm_80 and sm_90, against the installed torch's
# headers (the CPU wheel works: see the notes in the overlay below). Two files at a time; one line per file;
# exits non-zero if any file fails. Usage: .ci/cuda_check.sh [file.cu ...]
set -uo pipefail
cd "$(dirname "$0")/.."

NVCC="${NVCC:-/usr/local/cuda/bin/nvcc}"
command -v "$NVCC" >/dev/null 2>&1 || { echo "cuda_check: nvcc not found at $NVCC (set NVCC=...)"; exit 2; }
TORCH_DIR="$(python -c 'import os, torch; print(os.path.dirname(torch.__file__))')" || exit 2
PY_INC="$(python -c 'import sysconfig; print(sysconfig.get_paths()["include"])')" || exit 2
ABI="$(python -c 'import torch; print(int(torch._C._GLIBCXX_USE_CXX11_ABI))')" || exit 2

WORK="$(mktemp -d "${TMPDIR:-/tmp}/fastlit-cuda-check.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
# The CPU wheel lacks this generated header; a stand-in in a build-only overlay (never installed) is enough to
# compile. ATen/cuda/CUDAContext.h is unusable without cuBLAS headers, so the kernels only use c10/cuda.
mkdir -p "$WORK/overlay/c10/cuda/impl"
printf '#pragma once\n#define C10_CUDA_BUILD_SHARED_LIBS\n' > "$WORK/overlay/c10/cuda/impl/cuda_cmake_macros.h"

if [ "$#" -gt 0 ]; then FILES=("$@"); else FILES=(csrc/cuda/*.cu); fi
[ -e "${FILES[0]}" ] || { echo "cuda_check: no .cu files"; exit 1; }

compile() {  # file -> writes "<file>: ok (Ns)" or the error tail into $WORK/<name>.result
  local src="$1" name start
  name="$(basename "$src" .cu)"
  start=$(date +%s)
  if "$NVCC" -c "$src" -o "$WORK/$name.o" -std=c++20 -O3 --expt-relaxed-constexpr \
      -I"$WORK/overlay" -I"$TORCH_DIR/include" -I"$TORCH_DIR/include/torch/csrc/api/include" -I"$PY_INC" \
      -Icsrc/include -Icsrc -DFASTLIT_WITH_CUDA=1 -D_GLIBCXX_USE_CXX11_ABI="$ABI" \
      -gencode arch=compute_80,code=sm_80 -gencode arch=compute_90,code=sm_90 \
      >"$WORK/$name.log" 2>&1; then
    echo "$src: ok ($(( $(date +%s) - start ))s)" > "$WORK/$name.result"
  else
    { echo "$src: FAILED"; grep -E "error" "$WORK/$name.log" | head -20; } > "$WORK/$name.result"
  fi
}

status=0
for ((i = 0; i < ${#FILES[@]}; i += 2)); do
  compile "${FILES[i]}" &
  if [ $((i + 1)) -lt ${#FILES[@]} ]; then compile "${FILES[i + 1]}" & fi
  wait
done
for src in "${FILES[@]}"; do
  result="$WORK/$(basename "$src" .cu).result"
  cat "$result"
  grep -q ": ok (" "$result" || status=1
done
exit $status
