"""pytest-benchmark view of the kernel suite: `pytest benchmarks/kernels --benchmark-only`.

Each benchmark times fastlit's variant with pytest-benchmark and stores, in extra_info, the interleaved
same-run medians of every variant of its case (torch default / foreach / fused, fastlit), their speedups over
the case's baseline, and the effective GB/s next to a copy's. No assertions on time.
"""
import os

import pytest
import torch

from fastlit.bench.kernels import AE_SHAPES, adam_case, amp_clip_case, big_shapes, copy_case, measure, sgd_case

THREADS = int(os.environ.get("FASTLIT_BENCH_THREADS", "1"))
BIG = big_shapes(int(os.environ.get("FASTLIT_BENCH_PARAMS", "8000000")))
BIG_N = sum(s[0] for s in BIG)


@pytest.fixture(autouse=True)
def _threads():
    prev = torch.get_num_threads()
    torch.set_num_threads(THREADS)
    yield
    torch.set_num_threads(prev)


CASES = {
    "adam_autoencoder": (lambda: adam_case(AE_SHAPES, "adam, autoencoder 101k", 20), lambda: copy_case(
        4 * sum(torch.Size(s).numel() for s in AE_SHAPES), "copy", 20)),
    "adam_8m": (lambda: adam_case(BIG, "adam, 8M / 200 tensors", 1), lambda: copy_case(BIG_N * 7 // 2, "copy", 1)),
    "scale_clip_adamw_8m": (lambda: amp_clip_case(BIG, "scale+clip+adamw, 8M", 1),
                            lambda: copy_case(BIG_N * 4, "copy", 1)),
    "sgd_momentum_8m": (lambda: sgd_case(BIG, "sgd momentum, 8M", 1), lambda: copy_case(BIG_N * 5 // 2, "copy", 1)),
}


@pytest.mark.parametrize("name", list(CASES))
def test_kernel_case(benchmark, name):
    make_case, make_copy = CASES[name]
    case, copy = make_case(), make_copy()
    rows = measure([case, copy], repeats=7)
    benchmark.extra_info.update({"threads": THREADS, "rows": rows})
    fastlit = case.variants["fastlit"]
    benchmark.pedantic(fastlit.step, setup=fastlit.setup, rounds=20, iterations=1, warmup_rounds=2)
