"""``SimpleProfiler``: wall-clock time per action, reported as Lightning's table plus a training-batch split."""
from __future__ import annotations

import math
import os
import time
from collections import defaultdict
from pathlib import Path
from typing import Optional, Union

from fastlit.profilers.profiler import Profiler

# Categories of the training-batch split (see ``SimpleProfiler._classify``), in report order.
_SPLIT = (
    ("user", "model code (training_step + backward)"),
    ("optimizer", "optimizer step/zero_grad"),
    ("data", "data loading"),
    ("hooks", "hooks & callbacks"),
    ("framework", "framework overhead"),
)


class SimpleProfiler(Profiler):
    """Records the duration of each action and reports mean, count, total and share of the run per action.

    Besides Lightning's table, the report ends with one line splitting the measured time of the training batches
    (``run_training_batch``, ``*train_dataloader_next`` and the ``on_train_batch_start/end`` hooks, with
    everything profiled inside them) into model code, optimizer, data loading, hooks/callbacks and the remaining
    framework overhead, using each action's *self* time (its time minus the profiled actions nested inside it).

    Args:
        dirpath: Directory for the report; defaults to the Trainer's ``log_dir`` when ``filename`` is given.
        filename: If given, the report goes to ``<dirpath>/<stage>-<filename>.txt`` instead of the log.
        extended: Add the "Num calls" and "Percentage %" columns and the total row.

    Raises:
        ValueError: Starting an action that is already running, or stopping one that never started.
    """

    def __init__(
        self, dirpath: Optional[Union[str, Path]] = None, filename: Optional[str] = None, extended: bool = True
    ) -> None:
        super().__init__(dirpath=dirpath, filename=filename)
        self.current_actions: dict[str, float] = {}
        self.recorded_durations: dict[str, list[float]] = defaultdict(list)
        self.extended = extended
        self.start_time = time.perf_counter()
        # open actions, innermost last, as [name, time of the profiled actions nested in it]: gives self times
        self._stack: list[list] = []
        self._batch_depth = 0  # > 0 while inside a training-batch action (see _classify)
        self._kinds: dict[str, tuple[bool, str]] = {}
        self.split_totals: dict[str, float] = dict.fromkeys((k for k, _ in _SPLIT), 0.0)

    @staticmethod
    def _classify(action: str) -> tuple[bool, str]:
        """(starts a training-batch region, split category) for an action name."""
        root = (action == "run_training_batch" or action.endswith("train_dataloader_next")
                or action.endswith((".on_train_batch_start", ".on_train_batch_end")))
        if action.endswith((".training_step", ".backward")):
            category = "user"
        elif action == "optimizer_step" or action.endswith((".optimizer_step", ".optimizer_zero_grad")):
            category = "optimizer"
        elif action.endswith("_dataloader_next"):
            category = "data"
        elif action.startswith(("[Callback]", "[LightningModule]", "[LightningDataModule]")):
            category = "hooks"
        else:
            category = "framework"
        return root, category

    def start(self, action_name: str) -> None:
        if action_name in self.current_actions:
            raise ValueError(f"Attempted to start {action_name} which has already started.")
        kind = self._kinds.get(action_name)
        if kind is None:
            kind = self._kinds[action_name] = self._classify(action_name)
        if kind[0]:
            self._batch_depth += 1
        self._stack.append([action_name, 0.0])  # [name, time of the profiled actions nested in it]
        self.current_actions[action_name] = time.perf_counter()

    def stop(self, action_name: str) -> None:
        end = time.perf_counter()
        start = self.current_actions.pop(action_name, None)
        if start is None:
            raise ValueError(f"Attempting to stop recording an action ({action_name}) which was never started.")
        duration = end - start
        self.recorded_durations[action_name].append(duration)
        stack = self._stack
        frame = stack.pop()
        if frame[0] != action_name:  # overlapping (not nested) start/stop pairs: tolerated
            stack.append(frame)
            i = next(j for j, f in enumerate(stack) if f[0] == action_name)
            frame = stack.pop(i)
            parent = stack[i - 1] if i else None
        else:
            parent = stack[-1] if stack else None
        if parent is not None:
            parent[1] += duration
        if self._batch_depth:
            root, category = self._kinds[action_name]
            self.split_totals[category] += duration - frame[1]
            if root:
                self._batch_depth -= 1

    def _make_report_extended(self) -> tuple[list[tuple[str, float, int, float, float]], int, float]:
        total_duration = time.perf_counter() - self.start_time
        report = []
        for action, durations in self.recorded_durations.items():
            total = math.fsum(durations)
            report.append((action, total / len(durations), len(durations), total, 100.0 * total / total_duration))
        report.sort(key=lambda row: row[4], reverse=True)
        return report, sum(row[2] for row in report), total_duration

    def _make_report(self) -> list[tuple[str, float, float]]:
        report = []
        for action, durations in self.recorded_durations.items():
            total = math.fsum(durations)
            report.append((action, total / len(durations), total))
        report.sort(key=lambda row: row[1], reverse=True)
        return report

    def training_split(self) -> str:
        """One line: where the time of the profiled training batches went; empty when no batch was profiled."""
        batches = len(self.recorded_durations.get("run_training_batch", ()))
        measured = sum(self.split_totals.values())
        if not batches or measured <= 0:
            return ""
        totals = self.split_totals
        parts = [f"{label} {1e3 * totals[key] / batches:.4g} ms ({100.0 * totals[key] / measured:.1f}%)"
                 for key, label in _SPLIT]
        return (f"Training batch time split ({batches} batches, {1e3 * measured / batches:.4g} ms/batch measured): "
                + " | ".join(parts))

    def summary(self) -> str:
        sep = os.linesep
        out = (f"{self._stage.upper()} " if self._stage is not None else "") + f"Profiler Report{sep}"
        if not self.recorded_durations:
            return out + sep
        width = max(len(k) for k in self.recorded_durations)

        def row(*cells: str) -> str:
            return f"{sep}|  {cells[0]:<{width}s}\t|" + "".join(f"  {c:<15}\t|" for c in cells[1:])

        if self.extended:
            header = row("Action", "Mean duration (s)", "Num calls", "Total time (s)", "Percentage %")
            line = f"{sep}{'-' * len(header.expandtabs())}"
            report, total_calls, total_duration = self._make_report_extended()
            out += line + header + line + row("Total", "-", f"{total_calls}", f"{total_duration:.5}", "100 %") + line
            for action, mean, calls, total, percent in report:
                out += row(action, f"{mean:.5}", f"{calls}", f"{total:.5}", f"{percent:.5}")
        else:
            header = row("Action", "Mean duration (s)", "Total time (s)")
            line = f"{sep}{'-' * len(header.expandtabs())}"
            out += line + header + line
            for action, mean, total in self._make_report():
                out += row(action, f"{mean:.5}", f"{total:.5}")
        out += line
        split = self.training_split()
        if split:
            out += sep + split
        return out + sep


# Names Lightning's module also exports, imported on first use (see fastlit._reexport).
from fastlit._reexport import lazy_exports  # noqa: E402

__getattr__ = lazy_exports(__name__, {
    "log": "@logger",
})
