"""Draw a ``fastlit bench --json`` report as one PNG (or SVG/PDF: the file extension decides).

Panels, each only when the report has its data:

* loop: per workload, each variant's median ms/step as a ratio to the hand-written PyTorch loop (the dashed line
  at 1.0), so fastlit and Lightning read side by side; the plain loop's ms/step is printed under each workload.
* ddp: fastlit ``devices=2`` against a plain ``DistributedDataParallel`` script, same ratio.
* kernels: effective GB/s of each kernel case and variant (the suite's own copy of the same bytes included, in
  grey), against the host memory-copy bandwidth ``fastlit bench`` measured, drawn as a line.
* other ratios: anything else in ``report["ratios"]`` (e.g. ``checkpoint.*``), lower is better.

matplotlib is imported only here, through its object API (no pyplot, no global backend change), so
``import fastlit`` never needs it: ``pip install matplotlib`` (or ``pip install -e '.[examples]'``).

Also runnable on a saved report: ``python -m fastlit.bench.plot report.json bench.png``.
"""
from __future__ import annotations

import argparse
import json
from typing import Any, Optional

# Variant order and colours: the baseline first, then fastlit, then Lightning, each "off" (features off) then defaults.
_VARIANTS = ("plain", "fastlit_off", "fastlit", "lightning_off", "lightning")
_COLORS = {"plain": "#9e9e9e", "fastlit_off": "#7fb3e6", "fastlit": "#1f6fbf",
           "lightning_off": "#f2b880", "lightning": "#d9711c"}
_SHORT = {"plain": "plain PyTorch", "fastlit_off": "fastlit (features off)", "fastlit": "fastlit (defaults)",
          "lightning_off": "Lightning (features off)", "lightning": "Lightning (defaults)"}
_GBS_KEYS = ("GB/s", "gbs", "gb_per_s", "gb_s")
_NAME_KEYS = ("case", "kernel", "name", "workload")


def _first(row: dict[str, Any], keys: tuple[str, ...]) -> Any:
    return next((row[k] for k in keys if k in row), None)


def _kernel_rows(suite: Any) -> list[tuple[str, str, float]]:
    """(case, variant, GB/s) from a kernels suite: {"rows": [...]} or a bare list of rows."""
    rows = suite.get("rows", []) if isinstance(suite, dict) else suite or []
    out = []
    for r in rows:
        name, gbs = _first(r, _NAME_KEYS), _first(r, _GBS_KEYS)
        if name is not None and gbs is not None:
            out.append((str(name), str(r.get("variant", "")), float(gbs)))
    return out


def _title(machine: dict[str, Any]) -> str:
    if not machine:
        return "fastlit bench"
    gpu = machine.get("gpu")
    parts = [f"{machine.get('cpu', '?')} ({machine.get('cores', '?')} cores, {machine.get('threads', '?')} thread(s))"]
    if gpu:
        parts.append(f"GPU {gpu.get('name', '?')}")
    parts.append(f"torch {machine.get('torch', '?')}, fastlit {machine.get('fastlit', '?')}"
                 + (f" ({machine['commit']})" if machine.get("commit") else ""))
    return "fastlit bench: " + ", ".join(parts)


def _bar_labels(ax: Any, bars: Any, fmt: str) -> None:
    for b in bars:
        h = b.get_height()
        ax.annotate(fmt.format(h), (b.get_x() + b.get_width() / 2, h), xytext=(0, 2), textcoords="offset points",
                    ha="center", va="bottom", fontsize=7)


def _loop_panel(ax: Any, suite: dict[str, Any]) -> None:
    workloads = suite["workloads"]
    present = [v for v in _VARIANTS if v != "plain" and any(r["variant"] == v for w in workloads for r in w["rows"])]
    width = 0.8 / max(1, len(present))
    for i, variant in enumerate(present):
        xs, ys, spreads = [], [], []
        for j, w in enumerate(workloads):
            row = next((r for r in w["rows"] if r["variant"] == variant), None)
            if row is not None:
                xs.append(j + (i - (len(present) - 1) / 2) * width)
                ys.append(row["ratio_vs_plain"])
                spreads.append(row.get("spread"))
        bars = ax.bar(xs, ys, width, label=_SHORT[variant], color=_COLORS[variant])
        _bar_labels(ax, bars, "{:.2f}x")
        for bar, spread in zip(bars, spreads):  # (max - min) / median of the repeats: how far to trust the bar
            if spread is not None:
                ax.annotate(f"spread {spread * 100:.0f}%", (bar.get_x() + bar.get_width() / 2, bar.get_height() / 2),
                            ha="center", va="center", fontsize=6, rotation=90, color="white")
    ax.axhline(1.0, color="black", linestyle="--", linewidth=1, label="plain PyTorch loop = 1.0")
    ticks = []
    for w in workloads:
        plain = next((r for r in w["rows"] if r["variant"] == "plain"), None)
        ticks.append(w["workload"] + (f"\n(plain {plain['ms_per_step']:.3f} ms/step)" if plain else ""))
    ax.set_xticks(range(len(workloads)), ticks, fontsize=8)
    first = workloads[0] if workloads else {}
    ax.set_title(f"training loop, ms/step relative to plain PyTorch (lower is better); {first.get('device', 'cpu')}, "
                 f"median of {first.get('repeats', '?')}", fontsize=9)
    ax.set_ylabel("time per step / plain loop")
    ax.legend(fontsize=7, loc="upper left")
    ax.set_ylim(0, max([1.0] + [b.get_height() for b in ax.patches]) * 1.2)


def _ddp_panel(ax: Any, suite: dict[str, Any]) -> None:
    rows = suite["rows"]
    labels = [r["label"] + (f"\n(launch to 1st step {r['first_step_s']:.1f} s)" if "first_step_s" in r else "")
              for r in rows]
    bars = ax.bar(labels, [r["ratio_vs_plain"] for r in rows], 0.4,
                  color=["#9e9e9e" if r["variant"] == "plain" else "#1f6fbf" for r in rows])
    _bar_labels(ax, bars, "{:.2f}x")
    ax.axhline(1.0, color="black", linestyle="--", linewidth=1)
    ax.set_title(f"DDP: {suite.get('workload', '')}", fontsize=9)
    ax.set_ylabel("ms/step / plain DDP")
    ax.tick_params(axis="x", labelsize=8)
    ax.set_ylim(0, max([1.0] + [r["ratio_vs_plain"] for r in rows]) * 1.2)


def _kernels_panel(ax: Any, rows: list[tuple[str, str, float]], copy_gbs: Optional[float]) -> None:
    cases = list(dict.fromkeys(c for c, _, _ in rows))
    variants = list(dict.fromkeys(v for _, v, _ in rows))
    ours, theirs = iter(["#1f6fbf", "#7fb3e6", "#0b3d6e"]), iter(["#d9711c", "#f2b880", "#8c4a12", "#8e44ad", "#4caf50"])
    colors = {v: "#bdbdbd" if v.lower() == "copy" else next(ours if "fastlit" in v.lower() else theirs, "#555555")
              for v in variants}
    labelled: set[str] = set()
    for x, case in enumerate(cases):  # each case's own variants, side by side around its tick
        mine = [(v, g) for c, v, g in rows if c == case]
        width = min(0.8 / len(mine), 0.25)
        for i, (variant, gbs) in enumerate(mine):
            bars = ax.bar(x + (i - (len(mine) - 1) / 2) * width, gbs, width, color=colors[variant],
                          label=None if variant in labelled else (variant or "kernel"))
            labelled.add(variant)
            _bar_labels(ax, bars, "{:.1f}")
    if copy_gbs:
        ax.axhline(copy_gbs, color="black", linestyle="--", linewidth=1,
                   label=f"host memory copy, 256 MiB: {copy_gbs:.1f} GB/s")
    ax.set_xticks(range(len(cases)), cases, fontsize=7, rotation=10)
    ax.set_ylabel("effective GB/s (higher is better)")
    ax.set_title("kernels: effective GB/s = bytes the update must move / time; a copy of the same bytes beside each "
                 "(working sets that fit in cache beat the 256 MiB copy)", fontsize=9)
    ax.legend(fontsize=7)


def _other_panel(ax: Any, ratios: dict[str, float]) -> None:
    names = list(ratios)
    bars = ax.barh(names, [ratios[n] for n in names], color="#1f6fbf")
    for b in bars:
        ax.annotate(f"{b.get_width():.3g}", (b.get_width(), b.get_y() + b.get_height() / 2), xytext=(3, 0),
                    textcoords="offset points", va="center", fontsize=7)
    ax.axvline(1.0, color="black", linestyle="--", linewidth=1)
    ax.set_title("other ratios (lower is better)", fontsize=9)
    ax.tick_params(axis="y", labelsize=7)


def figure(report: dict[str, Any]) -> Any:
    """The matplotlib ``Figure`` for ``report`` (``plot`` saves it). Raises ``ValueError`` when nothing is drawable."""
    try:
        from matplotlib.figure import Figure
    except ImportError as e:
        raise ImportError("`fastlit bench --plot` needs matplotlib: `pip install matplotlib` "
                          "(or `pip install -e '.[examples]'`).") from e
    if not isinstance(report, dict):
        raise ValueError(f"expected the dict that `fastlit bench --json` writes, got {type(report).__name__}")
    suites = report.get("suites") or {}
    machine = report.get("machine") or {}
    panels = []  # (relative height, draw function)
    if (suites.get("loop") or {}).get("workloads"):
        panels.append((3.0, lambda ax: _loop_panel(ax, suites["loop"])))
    if (suites.get("ddp") or {}).get("rows"):
        panels.append((2.0, lambda ax: _ddp_panel(ax, suites["ddp"])))
    krows = _kernel_rows(suites.get("kernels"))
    if krows:
        copy = machine.get("copy_bandwidth_gbs") or max((g for c, _, g in krows if c.lower().startswith("copy")),
                                                        default=None)
        panels.append((3.0, lambda ax: _kernels_panel(ax, krows, copy)))
    shown = ("loop.", "ddp.") + (("kernels.",) if krows else ())  # ratios the panels above already draw
    other = {k: v for k, v in (report.get("ratios") or {}).items()
             if not k.startswith(shown) and isinstance(v, (int, float)) and v == v and v != float("inf")}
    if other:
        panels.append((1.0 + 0.25 * len(other), lambda ax: _other_panel(ax, other)))
    if not panels:
        raise ValueError("the report has nothing to plot: no suites.loop.workloads, suites.ddp.rows, "
                         "suites.kernels rows or ratios. Make it with `fastlit bench --json PATH`.")
    heights = [h for h, _ in panels]
    fig = Figure(figsize=(12, 1.2 * sum(heights) + 0.5), layout="constrained")
    fig.suptitle(_title(machine), fontsize=9)
    axes = fig.subplots(len(panels), 1, squeeze=False, gridspec_kw={"height_ratios": heights})[:, 0]
    for ax, (_, draw) in zip(axes, panels):
        draw(ax)
    return fig


def plot(report: dict[str, Any], path: str) -> None:
    """Draw ``report`` (the dict ``fastlit bench --json`` writes) into the image file ``path``.

    Args:
        report: ``{"machine": ..., "suites": {"loop": ..., "ddp": ..., "kernels": ...}, "ratios": ...}``.
        path: output file; the extension picks the format (``.png``, ``.svg``, ``.pdf``).
    """
    figure(report).savefig(path, dpi=120)


def main(argv: Optional[list[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m fastlit.bench.plot", description="Draw a `fastlit bench --json` report.")
    p.add_argument("report", help="the JSON file `fastlit bench --json` wrote")
    p.add_argument("out", help="image to write (.png, .svg, .pdf)")
    args = p.parse_args(argv)
    with open(args.report) as f:
        plot(json.load(f), args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
