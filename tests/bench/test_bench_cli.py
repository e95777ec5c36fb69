"""`fastlit bench`: the loop suite runs and reports ratios; --json writes them; --compare catches regressions."""
import json
import subprocess
import sys

import pytest

from fastlit.bench import cli, gate, loop, timing


def test_interleave_runs_variants_in_rounds_and_drops_warmup():
    calls = []
    variants = {name: (lambda name=name: calls.append(name) or len(calls)) for name in ("a", "b")}
    out = timing.interleave(variants, repeats=2, warmup=1)
    assert calls == ["a", "b", "a", "b", "a", "b"]
    assert out == {"a": [3, 5], "b": [4, 6]}


def test_compare_names_only_ratios_worse_than_tolerance():
    base = {"loop.fastlit": 1.00, "loop.fastlit_off": 0.90}
    assert gate.compare({"loop.fastlit": 1.09, "loop.fastlit_off": 0.80}, base, 0.10) == []
    worse = gate.compare({"loop.fastlit": 1.20, "loop.fastlit_off": 0.91}, base, 0.10)
    assert len(worse) == 1 and worse[0].startswith("loop.fastlit:")


def test_loop_suite_reports_every_variant(monkeypatch):
    # a small epoch count keeps this a smoke test; the ratios themselves live in the benchmark, not here
    wl = loop.workloads.WORKLOADS["autoencoder"]
    monkeypatch.setattr(loop.workloads, "EPOCHS", 1)
    monkeypatch.setattr(wl, "epochs", 1)
    monkeypatch.setattr(wl, "loader", lambda: loop.workloads.loader(n=640))
    result = loop.run(threads=1, repeats=1, lightning=False)
    (res,) = result["workloads"]
    names = [r["variant"] for r in res["rows"]]
    assert names == ["plain", "fastlit_off", "fastlit"]
    plain = res["rows"][0]
    assert plain["ratio_vs_plain"] == 1.0 and plain["ms_per_step"] > 0
    assert set(result["ratios"]) == {"loop.fastlit_off", "loop.fastlit"}
    assert all(v > 0 for v in result["ratios"].values())
    assert "plain PyTorch loop" in loop.format_table(result)


def test_user_module_workload(tmp_path, monkeypatch):
    (tmp_path / "mymodel.py").write_text(
        "import torch, fastlit as pl\n"
        "from torch.utils.data import DataLoader, TensorDataset\n"
        "class Tiny(pl.LightningModule):\n"
        "    def __init__(self, width=4):\n"
        "        super().__init__(); self.l = torch.nn.Linear(width, 1)\n"
        "    def training_step(self, b, i):\n"
        "        return torch.nn.functional.mse_loss(self.l(b[0]), b[1])\n"
        "    def configure_optimizers(self): return torch.optim.SGD(self.parameters(), lr=0.1)\n"
        "    def train_dataloader(self):\n"
        "        return DataLoader(TensorDataset(torch.randn(32, 4), torch.randn(32, 1)), batch_size=8)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    wl = loop.workloads.user_workload("mymodel:Tiny", init_args='{"width": 4}', epochs=2)
    assert wl.name == "user:Tiny"
    assert loop.workloads.plain_loop(wl) == 8  # 4 batches x 2 epochs, from the module's own training_step
    res = loop.run_workload(wl, repeats=1, lightning=False)
    assert [r["variant"] for r in res["rows"]] == ["plain", "fastlit_off", "fastlit"]


def test_cli_json_and_compare_exit_code(tmp_path, monkeypatch):
    fake = {"ratios": {"loop.fastlit": 1.5}, "workloads": [
        {"workload": "w", "description": "d", "device": "cpu", "threads": 1, "repeats": 1,
         "rows": [{"variant": "plain", "label": "plain", "ms_per_step": 1.0, "spread": 0.0, "n": 1,
                   "ratio_vs_plain": 1.0}]}]}
    monkeypatch.setattr(loop, "run", lambda **kw: fake)
    out = tmp_path / "bench.json"
    assert cli.run(cli_args(["--json", str(out)])) == 0
    data = json.loads(out.read_text())
    assert data["ratios"] == {"loop.fastlit": 1.5} and "cpu" in data["machine"]
    base = tmp_path / "base.json"
    base.write_text(json.dumps({"ratios": {"loop.fastlit": 1.0}}))
    assert cli.run(cli_args(["--compare", str(base)])) == 1
    base.write_text(json.dumps({"ratios": {"loop.fastlit": 1.45}}))
    assert cli.run(cli_args(["--compare", str(base)])) == 0


def cli_args(extra):
    import argparse

    p = argparse.ArgumentParser()
    cli.add_arguments(p)
    return p.parse_args(extra)


def test_console_script_help():
    # the console script's module (fastlit.cli is Lightning's LightningCLI path)
    out = subprocess.run([sys.executable, "-m", "fastlit._cli", "bench", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "--compare" in out.stdout


def test_ddp_suite_runs_both_launches(monkeypatch):
    from fastlit.bench import ddp

    monkeypatch.setattr(ddp, "EPOCHS", 2)
    result = ddp.run(repeats=1)
    plain, fl = result["rows"]
    assert (plain["variant"], fl["variant"]) == ("plain", "fastlit")
    assert plain["ms_per_step"] > 0 and fl["ms_per_step"] > 0 and fl["first_step_s"] > 0
    assert result["ratios"]["ddp.fastlit"] == pytest.approx(fl["ms_per_step"] / plain["ms_per_step"])
    assert "fastlit devices=2" in ddp.format_table(result)


def test_suite_argument_takes_a_comma_list_and_all():
    assert cli_args(["loop,kernels"]).suite == ("loop", "kernels")
    assert cli_args(["all"]).suite == cli.SUITES
    assert cli_args([]).suite == ("loop",)
    with pytest.raises(SystemExit):
        cli_args(["loop,nope"])
