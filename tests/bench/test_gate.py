"""`fastlit bench gate`: never passes by checking nothing, re-measures noisy wall keys, pins its key set."""
import json
import math
from pathlib import Path

import pytest

from fastlit.bench import gate, instructions, kernels

BASELINE = Path(__file__).resolve().parents[2] / "benchmarks" / "baseline.json"


def test_compare_flags_regressions_missing_and_non_finite_keys():
    base = {"a": 1.0, "b": 0.5, "c": 2.0, "d": 1.0}
    failures = gate.compare({"a": 1.09, "b": 0.7, "c": float("nan")}, base, 0.10)
    assert [f.split(":")[0] for f in failures] == ["b", "c", "d"]
    assert "not a finite number" in failures[1] and "not measured" in failures[2]
    assert gate.compare({"a": float("inf")}, {"a": 1.0}, 0.1)[0].startswith("a: measured inf")
    assert gate.compare({}, base, 0.10) != []  # an empty run never passes
    assert gate.compare({"a": 1.10, "b": 0.2, "c": 2.2, "d": 0.0}, base, 0.10) == []


def test_baseline_pins_the_key_sets():
    data = json.loads(BASELINE.read_text())
    assert set(data["instructions"]["ratios"]) == set(instructions.RATIOS)
    machines = data["wall"]["machines"]
    assert machines, "no wall-time baseline recorded"
    for cpu, entry in machines.items():
        assert set(entry["ratios"]) == set(gate.WALL_KEYS), cpu
        assert all(math.isfinite(v) and v > 0 for v in entry["ratios"].values())


def test_kernel_suite_produces_exactly_the_gated_kernel_keys(monkeypatch):
    monkeypatch.setattr(kernels, "big_shapes", lambda total=0, count=0: [(1000,)] * 4)
    result = kernels.run(repeats=1, quick=True, scale=2, stat=min)
    assert set(result["ratios"]) == {k for k in gate.WALL_KEYS if k.startswith("kernels.")}


def test_ratios_use_instructions_or_memory_lines_and_are_nan_for_a_missing_case():
    counts = {case: {"Ir": 100, "LL": 10} for case in instructions.CASES}
    counts["kernels.adamw.fastlit"] = {"Ir": 50, "LL": 30}
    r = instructions.ratios(counts)
    assert r["instr.kernels.adamw"] == 0.5 and r["mem.kernels.adamw"] == 3.0 and r["instr.loop.fastlit"] == 1.0
    del counts["kernels.adamw.fastlit"]
    r = instructions.ratios(counts)
    assert math.isnan(r["instr.kernels.adamw"]) and math.isnan(r["mem.kernels.adamw"])
    assert r["instr.loop.fastlit"] == 1.0


def test_parse_dumps_reads_each_client_request_dump(tmp_path):
    events = "events: Ir Dr Dw I1mr D1mr D1mw ILmr DLmr DLmw\n"
    prefix = tmp_path / "cg.out"
    (tmp_path / "cg.out.1").write_text(f"version: 1\ndesc: Trigger: Client Request: loop.plain\n{events}"
                                       "summary: 1234 5 5 5 5 5 5 7 3\n")
    (tmp_path / "cg.out.2").write_text(f"desc: Trigger: Client Request: kernels.adamw.torch\n{events}"
                                       "totals: 99 1 1 1 1 1 1 0 2\n")
    (tmp_path / "cg.out").write_text(f"desc: Trigger: Program termination\n{events}summary: 5 0 0 0 0 0 0 0 0\n")
    assert instructions.parse_dumps(str(prefix)) == {"loop.plain": {"Ir": 1234, "LL": 10},
                                                     "kernels.adamw.torch": {"Ir": 99, "LL": 2}}


def test_worker_marks_every_case_once_in_order(monkeypatch):
    events = []

    class Spy:
        def __init__(self, lib):
            pass

        def start(self):
            events.append("start")

        def dump(self, name):
            events.append(name)

    monkeypatch.setattr(instructions, "_Marks", Spy)
    monkeypatch.setattr(instructions, "BIG_PARAMS", 20_000)
    instructions._worker("unused.so")
    assert events == [x for case in instructions.CASES for x in ("start", case)]


def test_window_covers_exactly_the_window_steps():
    events = []

    class Spy:
        def start(self):
            events.append(("start", seen[-1] if seen else None))

        def dump(self, name):
            events.append(("dump", seen[-1]))

    seen = []
    window = instructions._Window(range(100), Spy(), "w", warmup=3, window=4)
    for batch in window:
        seen.append(batch)
    assert seen == list(range(8)) and len(window) == 8
    assert events == [("start", 2), ("dump", 6)]  # steps 3..6 ran between the marks


def test_gate_wall_remeasures_and_keeps_each_keys_best():
    runs = iter([{"a": 1.5, "b": 1.0}, {"a": 1.05, "b": 1.3}])
    log = []
    best, failures = gate.gate_wall({"a": 1.0, "b": 1.0}, 0.10, lambda: next(runs), attempts=3, log=log.append)
    assert failures == [] and best == {"a": 1.05, "b": 1.0} and len(log) == 1


def test_gate_wall_fails_a_lasting_regression_after_all_attempts():
    calls = []
    best, failures = gate.gate_wall({"a": 1.0}, 0.10, lambda: calls.append(1) or {"a": 1.3}, attempts=3,
                                    log=lambda s: None)
    assert len(calls) == 3 and failures and failures[0].startswith("a: 1.300")


def test_gate_wall_nan_fails_unless_an_attempt_is_finite():
    values = iter([{"a": float("nan")}, {"a": float("nan")}])
    _, failures = gate.gate_wall({"a": 1.0}, 0.1, lambda: next(values), attempts=2, log=lambda s: None)
    assert "not a finite number" in failures[0]
    values = iter([{"a": float("nan")}, {"a": 0.9}])
    best, failures = gate.gate_wall({"a": 1.0}, 0.1, lambda: next(values), attempts=2, log=lambda s: None)
    assert failures == [] and best == {"a": 0.9}


def test_unknown_cpu_gets_worst_known_ratio_and_wider_tolerance():
    base = {"wall": {"machines": {"CPU A": {"ratios": {"k": 1.0, "j": 0.5}},
                                  "CPU B": {"ratios": {"k": 0.8, "j": 0.7}}}}}
    limits, tol, note = gate.wall_baseline(base, "CPU A", 0.25)
    assert limits == {"k": 1.0, "j": 0.5} and tol == 0.25 and "CPU A" in note
    limits, tol, note = gate.wall_baseline(base, "CPU C", 0.25)
    assert limits == {"k": 1.0, "j": 0.7} and tol == 0.5 and note.startswith("WARNING") and "CPU C" in note
    with pytest.raises(ValueError, match="no wall-time ratios"):
        gate.wall_baseline({}, "CPU A", 0.25)


def test_gate_command_fails_on_regression_and_passes_otherwise(tmp_path, monkeypatch, capsys):
    from fastlit.bench import cli

    monkeypatch.setattr(cli, "machine_info", lambda threads: {
        "cpu": "CPU A", "cores": 2, "torch": "t", "commit": "c", "extension_loaded": True})
    monkeypatch.setattr(instructions, "measure", lambda: {"counts": {}, "ratios": {"instr.x": 1.0}})
    monkeypatch.setattr(gate, "measure_wall", lambda threads=1: {"k": 1.0})
    base = tmp_path / "b.json"

    def gate_exit(wall_base, instr_base):
        base.write_text(json.dumps({"wall": {"machines": {"CPU A": {"ratios": {"k": wall_base}}}},
                                    "instructions": {"ratios": {"instr.x": instr_base}}}))
        import argparse

        p = argparse.ArgumentParser()
        cli.add_arguments(p)
        return cli.run(p.parse_args(["gate", "--baseline", str(base)]))

    assert gate_exit(1.0, 1.0) == 0
    assert "GATE PASSED" in capsys.readouterr().out
    assert gate_exit(0.7, 1.0) == 1  # wall regression (+43% > 25%)
    assert "k: 1.000 vs baseline 0.700" in capsys.readouterr().err
    assert gate_exit(1.0, 0.9) == 1  # instruction regression (+11% > 8%)
    assert "instr.x" in capsys.readouterr().err
