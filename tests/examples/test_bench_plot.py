"""fastlit.bench.plot draws what a `fastlit bench --json` report holds: the bars are the report's numbers."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("matplotlib", reason="fastlit bench --plot needs matplotlib: pip install -e '.[examples]'")

from fastlit.bench import plot as bench_plot  # noqa: E402


def _rows(ratios: dict[str, float], plain_ms: float) -> list[dict]:
    return [{"variant": v, "label": v, "ms_per_step": plain_ms * r, "spread": 0.01, "n": 3, "ratio_vs_plain": r}
            for v, r in ratios.items()]


def make_report(kernels: bool = True) -> dict:
    """The shape fastlit/bench/cli.py `run` writes (loop + ddp), plus the kernels suite's rows and a checkpoint ratio."""
    loop = {"workloads": [
        {"workload": "autoencoder", "description": "seed AE", "threads": 1, "repeats": 3, "device": "cpu",
         "rows": _rows({"plain": 1.0, "fastlit_off": 1.05, "fastlit": 1.3, "lightning_off": 1.9, "lightning": 2.7}, 0.4)},
        {"workload": "cnn", "description": "seed 004 CNN", "threads": 1, "repeats": 3, "device": "cpu",
         "rows": _rows({"plain": 1.0, "fastlit_off": 1.01, "fastlit": 1.1}, 2.0)},  # Lightning not installed
    ]}
    loop["ratios"] = {"loop.fastlit": 1.3, "loop.cnn.fastlit": 1.1}
    ddp = {"workload": "seed autoencoder, 2 gloo ranks", "repeats": 2, "ratios": {"ddp.fastlit": 1.08},
           "rows": [{"variant": "plain", "label": "plain DistributedDataParallel", "ms_per_step": 1.0, "spread": 0.0,
                     "first_step_s": 2.0, "ratio_vs_plain": 1.0},
                    {"variant": "fastlit", "label": "fastlit devices=2", "ms_per_step": 1.08, "spread": 0.0,
                     "first_step_s": 3.0, "ratio_vs_plain": 1.08}]}
    report = {"machine": {"cpu": "Test CPU", "cores": 2, "threads": 1, "torch": "2.13.0", "fastlit": "0.1.0",
                          "commit": "abc1234", "copy_bandwidth_gbs": 12.5, "gpu": None},
              "suites": {"loop": loop, "ddp": ddp},
              "ratios": {**loop["ratios"], **ddp["ratios"], "checkpoint.train.async_vs_none": 1.02,
                         "kernels.adam": 0.5}}
    if kernels:  # the shape fastlit/bench/kernels.py `run` returns
        report["suites"]["kernels"] = {"threads": 1, "ratios": {"kernels.adam": 0.5}, "rows": [
            {"case": "copy (8M adam bytes)", "variant": "copy", "ms": 9.0, "GB/s": 11.0},
            {"case": "adam, 8M params", "variant": "torch foreach", "ms": 40.0, "GB/s": 4.0},
            {"case": "adam, 8M params", "variant": "fastlit fused", "ms": 20.0, "GB/s": 8.0},
        ]}
    return report


def test_plot_writes_a_png(tmp_path: Path) -> None:
    out = tmp_path / "bench.png"
    bench_plot.plot(make_report(), str(out))
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 10_000


def test_bars_are_the_reports_numbers() -> None:
    fig = bench_plot.figure(make_report())
    loop_ax, ddp_ax, kernel_ax, other_ax = fig.axes
    # loop: autoencoder has 4 non-plain variants, cnn 2 (no Lightning rows): 6 bars, heights = the ratios
    assert sorted(round(p.get_height(), 3) for p in loop_ax.patches) == [1.01, 1.05, 1.1, 1.3, 1.9, 2.7]
    labels = [t.get_text() for t in loop_ax.get_legend().get_texts()]
    assert labels == ["plain PyTorch loop = 1.0", "fastlit (features off)", "fastlit (defaults)",
                      "Lightning (features off)", "Lightning (defaults)"]
    assert "plain 0.400 ms/step" in loop_ax.get_xticklabels()[0].get_text()
    assert sorted(p.get_height() for p in ddp_ax.patches) == [1.0, 1.08]
    # kernels: every row is a bar (the suite's copy too); the line sits at the machine's copy bandwidth
    assert sorted(p.get_height() for p in kernel_ax.patches) == [4.0, 8.0, 11.0]
    assert [line.get_ydata()[0] for line in kernel_ax.get_lines()] == [12.5]
    # ratios the other panels do not show (here checkpoint.*; kernels.* is the kernels panel's)
    assert [t.get_text() for t in other_ax.get_yticklabels()] == ["checkpoint.train.async_vs_none"]
    assert "Test CPU" in fig.get_suptitle() and "abc1234" in fig.get_suptitle()


def test_only_present_suites_are_drawn() -> None:
    report = make_report(kernels=False)
    del report["suites"]["ddp"]
    report["ratios"] = {k: v for k, v in report["ratios"].items() if k.startswith("loop.")}
    assert len(bench_plot.figure(report).axes) == 1


def test_empty_report_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="nothing to plot.*fastlit bench --json"):
        bench_plot.figure({"machine": {}, "suites": {}, "ratios": {}})
    with pytest.raises(ValueError, match="expected the dict"):
        bench_plot.figure([])


def test_missing_matplotlib_names_the_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ImportError, match="pip install matplotlib"):
        bench_plot.figure(make_report())


def test_import_fastlit_does_not_import_matplotlib() -> None:
    code = "import sys, fastlit, fastlit.bench.plot; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_module_cli_on_a_saved_report(tmp_path: Path) -> None:
    (tmp_path / "r.json").write_text(json.dumps(make_report()))
    out = subprocess.run([sys.executable, "-m", "fastlit.bench.plot", str(tmp_path / "r.json"),
                          str(tmp_path / "r.svg")], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "r.svg").read_text().lstrip().startswith("<?xml")
