"""The loop suite under pytest-benchmark: plain PyTorch vs fastlit on the seed autoencoder (CPU, 1 thread)."""
import os

import pytest
import torch

import fastlit
from fastlit.bench import loop, workloads
from fastlit.bench.worker import time_fit

AE = workloads.WORKLOADS["autoencoder"]


@pytest.fixture(autouse=True)
def one_thread():
    prev = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(prev)


def test_plain_loop(benchmark):
    steps = benchmark.pedantic(workloads.plain_loop, args=(AE,), rounds=3, warmup_rounds=1)
    assert steps == 300


@pytest.mark.parametrize("variant", ["off", "defaults"])
def test_fastlit_fit(benchmark, tmp_path, variant):
    with loop._quiet():
        result = benchmark.pedantic(time_fit, args=(fastlit, variant, str(tmp_path)), rounds=3, warmup_rounds=1)
    assert result["steps"] == 300


def test_ratio_vs_plain_same_run(benchmark):
    """Interleaved plain/fastlit runs; the ratios go into the benchmark JSON (extra_info)."""
    res = benchmark.pedantic(loop.run_workload, args=(AE,), kwargs={"repeats": 3, "lightning": False}, rounds=1)
    for row in res["rows"]:
        benchmark.extra_info[f"ratio.{row['variant']}"] = row["ratio_vs_plain"]
    assert {r["variant"] for r in res["rows"]} == {"plain", "fastlit_off", "fastlit"}
