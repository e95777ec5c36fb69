"""``PyTorchProfiler``: ``torch.profiler`` with one ``record_function`` range per Trainer action.

Traces (``*.pt.trace.json``, readable by chrome://tracing, Perfetto and TensorBoard's profiler plugin) go to
``dirpath`` (the Trainer's ``log_dir`` by default); the operator table goes where every profiler report goes.
"""
from __future__ import annotations

import inspect
import os
from functools import partial
from pathlib import Path
from typing import Any, Callable, Optional, Union

import torch
from torch import nn

from fastlit.profilers.profiler import Profiler
from fastlit.utilities.exceptions import MisconfigurationException
from fastlit.utilities.rank_zero import WarningCache, rank_zero_warn

warning_cache = WarningCache()
_STEP_KINDS = ("training_step", "validation_step", "test_step", "predict_step")


class RegisterRecordFunction:
    """While active, wraps every submodule's forward in a ``[pl][module]<type>: <name>`` profiler range.

    Args:
        model: The module whose submodules get labelled.
    """

    def __init__(self, model: nn.Module) -> None:
        self._model = model
        self._records: dict[str, Any] = {}
        self._handles: list[Any] = []

    def _pre(self, _: nn.Module, args: Any, record_name: str) -> None:
        record = torch.autograd.profiler.record_function("[pl][module]" + record_name)
        record.__enter__()
        self._records[record_name] = record

    def _post(self, _: nn.Module, args: Any, output: Any, record_name: str) -> None:
        record = self._records.pop(record_name, None)
        if record is not None:
            record.__exit__(None, None, None)

    def __enter__(self) -> None:
        for name, module in self._model.named_modules():
            if name:
                record_name = f"{type(module).__module__}.{type(module).__name__}: {name}"
                self._handles.append(module.register_forward_pre_hook(partial(self._pre, record_name=record_name)))
                self._handles.append(module.register_forward_hook(partial(self._post, record_name=record_name)))

    def __exit__(self, *exc: Any) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []


class _StageSchedule:
    """Feeds the user's ``torch.profiler`` schedule a step count kept per kind of step (train/val/test/predict).

    Each kind records once (up to its first ``RECORD_AND_SAVE``); sanity-check validation steps during ``fit``
    are not counted, so the recorded validation steps are real ones.
    """

    def __init__(self, schedule: Callable[[int], Any]) -> None:
        self.schedule = schedule
        self.stage: Optional[str] = None
        self.reset()

    def reset(self) -> None:
        self.counts = dict.fromkeys(_STEP_KINDS, 0)
        self.finished: set[str] = set()
        self.kind: Optional[str] = None
        self._prev: Any = None

    def pre_step(self, action_name: str) -> None:
        self.kind = next((k for k in _STEP_KINDS if action_name.endswith(k)), None)

    @property
    def num_step(self) -> int:
        return self.counts.get(self.kind, 0) if self.kind else 0

    def __call__(self, _: int) -> Any:
        action_cls = torch.profiler.ProfilerAction
        kind = self.kind
        if kind is None or kind in self.finished:
            return action_cls.NONE
        if not (kind == "validation_step" and self.stage == "fit" and self.counts["training_step"] == 0):
            self.counts[kind] += 1
        action = self.schedule(max(self.counts[kind], 0))
        if self._prev == action_cls.RECORD and action == action_cls.WARMUP:
            # validation interleaved with training: torch rejects RECORD -> WARMUP, keep recording
            action = action_cls.RECORD
        if action == action_cls.RECORD_AND_SAVE:
            self.finished.add(kind)
        self._prev = action
        return action


def _default_schedule() -> Callable[[int], Any]:
    # few enough recorded steps that the profiler's own overhead stays negligible
    return torch.profiler.schedule(wait=1, warmup=1, active=3)


class PyTorchProfiler(Profiler):
    """Operator-level CPU/GPU profile via ``torch.profiler``; each Trainer action is a labelled range.

    Args:
        dirpath: Where traces and the report go; defaults to the Trainer's ``log_dir``.
        filename: If given, the table goes to ``<dirpath>/<stage>-<filename>.txt`` instead of the log.
        group_by_input_shapes: Group the table by operator input shapes (needs ``record_shapes=True``).
        emit_nvtx: Emit NVTX ranges for ``nsys``/``nvprof`` instead of recording a trace (CUDA only).
        export_to_chrome: Write ``<stage>-<filename>-<action>.<ns>.pt.trace.json`` traces into ``dirpath``.
        row_limit: Rows of the operator table; ``-1`` for all.
        sort_by_key: Table sort key, one of ``AVAILABLE_SORT_KEYS``; default ``cuda_time_total`` when profiling
            CUDA, else ``cpu_time_total``.
        record_module_names: Label each submodule's forward with its name in the trace.
        table_kwargs: Extra arguments for ``EventList.table`` (not ``sort_by``/``row_limit``).
        **profiler_kwargs: Passed to ``torch.profiler.profile`` (``schedule``, ``activities``, ``record_shapes``,
            ``profile_memory``, ``with_stack``, ...). The default schedule is ``wait=1, warmup=1, active=3``,
            counted per kind of step; with fewer than 5 steps everything is recorded.

    Raises:
        MisconfigurationException: A bad ``sort_by_key`` or ``schedule``.
        KeyError: A bad ``table_kwargs`` key.
    """

    STEP_FUNCTIONS = set(_STEP_KINDS)
    AVAILABLE_SORT_KEYS = {
        "cpu_time", "cuda_time", "cpu_time_total", "cuda_time_total", "cpu_memory_usage", "cuda_memory_usage",
        "self_cpu_memory_usage", "self_cuda_memory_usage", "count",
    }

    def __init__(
        self,
        dirpath: Optional[Union[str, Path]] = None,
        filename: Optional[str] = None,
        group_by_input_shapes: bool = False,
        emit_nvtx: bool = False,
        export_to_chrome: bool = True,
        row_limit: int = 20,
        sort_by_key: Optional[str] = None,
        record_module_names: bool = True,
        table_kwargs: Optional[dict[str, Any]] = None,
        **profiler_kwargs: Any,
    ) -> None:
        super().__init__(dirpath=dirpath, filename=filename)
        self._group_by_input_shapes = group_by_input_shapes and profiler_kwargs.get("record_shapes", False)
        self._emit_nvtx = emit_nvtx
        self._export_to_chrome = export_to_chrome
        self._row_limit = row_limit
        self._record_module_names = record_module_names
        self._profiler_kwargs = profiler_kwargs
        self._table_kwargs = dict(table_kwargs or {})
        self.profiler: Any = None
        self.function_events: Any = None
        self._lightning_module: Optional[nn.Module] = None  # set by the Trainer before a run
        self._register: Optional[RegisterRecordFunction] = None
        self._parent_profiler: Any = None
        self._recording_map: dict[str, Any] = {}
        self._saw_step_action = False
        self._kineto = torch.profiler.kineto_available()
        self._schedule: Optional[_StageSchedule] = None
        self._stage_schedule: Optional[_StageSchedule] = None
        self._user_schedule = "schedule" in profiler_kwargs
        self._has_on_trace_ready = "on_trace_ready" in profiler_kwargs
        if self._kineto:
            self._init_kineto()
        self._sort_by_key = sort_by_key or self._default_sort_key()
        if self._sort_by_key not in self.AVAILABLE_SORT_KEYS:
            raise MisconfigurationException(
                f"Found sort_by_key: {self._sort_by_key}. Should be within {self.AVAILABLE_SORT_KEYS}. "
            )
        valid = set(inspect.signature(torch.autograd.profiler_util.EventList.table).parameters) - {
            "self", "sort_by", "row_limit"}
        for key in self._table_kwargs:
            if key in ("sort_by", "row_limit"):
                raise KeyError(f"Found invalid table_kwargs key: {key}. This is already an argument of the Profiler.")
            if key not in valid:
                raise KeyError(f"Found invalid table_kwargs key: {key}. Should be within {valid}.")

    def _init_kineto(self) -> None:
        kwargs = self._profiler_kwargs
        schedule = kwargs.get("schedule")
        if schedule is not None:
            if not callable(schedule):
                raise MisconfigurationException(f"Schedule should be a callable. Found: {schedule}")
            action = schedule(0)
            if not isinstance(action, torch.profiler.ProfilerAction):
                raise MisconfigurationException(
                    f"Schedule should return a `torch.profiler.ProfilerAction`. Found: {action}")
        elif not self._user_schedule:
            schedule = _default_schedule()
        self._schedule = _StageSchedule(schedule) if schedule is not None else None
        self._stage_schedule = self._schedule  # kept: a run that dropped it (too few steps) must not affect the next
        kwargs["schedule"] = self._schedule
        kwargs["activities"] = kwargs.get("activities") or self._default_activities()
        self._export_to_flame_graph = kwargs.get("export_to_flame_graph", False)
        self._metric = kwargs.get("metric", "self_cpu_time_total")
        kwargs["with_stack"] = kwargs.get("with_stack", False) or self._export_to_flame_graph

    def _default_activities(self) -> list[Any]:
        activities = [torch.profiler.ProfilerActivity.CPU]
        if torch.cuda.is_available():
            activities.append(torch.profiler.ProfilerActivity.CUDA)
        return activities

    def _default_sort_key(self) -> str:
        activities = self._profiler_kwargs.get("activities") or []
        cuda = torch.profiler.ProfilerActivity.CUDA in activities or (not activities and torch.cuda.is_available())
        return "cuda_time_total" if cuda else "cpu_time_total"

    def _total_steps(self, kind: str) -> Union[int, float]:
        trainer = getattr(self._lightning_module, "_trainer", None)
        if trainer is None:
            return float("inf")

        def total(value: Any) -> Union[int, float]:
            return sum(value) if isinstance(value, (list, tuple)) else (value or 0)

        if kind == "training_step":
            return total(trainer.num_training_batches)
        if kind == "validation_step":
            return total(trainer.num_val_batches) + total(getattr(trainer, "num_sanity_val_batches", 0))
        if kind == "test_step":
            return total(trainer.num_test_batches)
        return total(trainer.num_predict_batches)

    def start(self, action_name: str) -> None:
        if self.profiler is None:
            if torch.autograd._profiler_enabled():
                # another profiler was left running (e.g. one whose describe() never ran): torch allows only one
                torch.autograd._disable_profiler()
            self._schedule = self._stage_schedule
            if self._schedule is not None:
                self._schedule.reset()
                self._schedule.stage = self._stage
            self._create_profilers()
            entered = self.profiler.__enter__()
            if entered is not None:
                self.profiler = entered
            if self._parent_profiler is not None:
                self._parent_profiler.__enter__()
        if self._lightning_module is not None and self._register is None and self._record_module_names:
            self._register = RegisterRecordFunction(self._lightning_module)
            self._register.__enter__()
        if self.profiler is not None and action_name not in self._recording_map:
            record = torch.autograd.profiler.record_function("[pl][profile]" + action_name)
            record.__enter__()
            self._recording_map[action_name] = record

    def stop(self, action_name: str) -> None:
        record = self._recording_map.pop(action_name, None)
        if record is not None:
            record.__exit__(None, None, None)
        if not self._kineto or self._emit_nvtx or self.profiler is None:
            return
        kind = next((k for k in _STEP_KINDS if action_name.endswith(k)), None)
        if kind is not None:
            self._saw_step_action = True
        elif action_name == "run_training_batch" and not self._saw_step_action:
            # a trainer that profiles no `*training_step` action: let the whole batch be the training step
            kind = "training_step"
        else:
            return
        if self._schedule is not None:
            self._schedule.pre_step(kind)
            if not self._user_schedule and self._total_steps(kind) < 5:
                # the default schedule needs >= 5 steps (wait 1, warmup 1, active 3): record everything instead
                warning_cache.warn("The PyTorch Profiler default schedule will be overridden as there is not "
                                   "enough steps to properly record traces.")
                self._schedule = None
                self.profiler.schedule = torch.profiler.profiler._default_schedule_fn
        if not self._has_on_trace_ready:
            self.profiler.on_trace_ready = partial(self._on_trace_ready, action_name)
        if self._schedule is not None:
            self.profiler.step_num = self._schedule.num_step
        self.profiler.step()
        self.profiler.add_metadata("Framework", "fastlit")

    def _on_trace_ready(self, action_name: str, profiler: Any) -> None:
        if self.dirpath is None:
            rank_zero_warn("The PyTorchProfiler failed to export trace as `dirpath` is None")
            return
        if self._export_to_chrome:
            worker = self._prepare_filename(action_name=action_name, extension="")
            torch.profiler.tensorboard_trace_handler(str(self.dirpath), worker)(profiler)
        if self._export_to_flame_graph:
            path = os.path.join(self.dirpath, self._prepare_filename(action_name=action_name, extension=".stack"))
            profiler.export_stacks(path, metric=self._metric)

    def summary(self) -> str:
        if not self._profiler_kwargs.get("enabled", True) or self._emit_nvtx:
            return ""
        self._delete_profilers()
        if not self.function_events:
            return ""
        if self._export_to_chrome and not self._kineto:
            name = f"{self.local_rank}_trace.json"
            self.function_events.export_chrome_trace(name if self.dirpath is None else os.path.join(self.dirpath, name))
        data = self.function_events.key_averages(group_by_input_shapes=self._group_by_input_shapes)
        table = data.table(sort_by=self._sort_by_key, row_limit=self._row_limit, **self._table_kwargs)
        return self._stats_to_str({"records": table})

    def _create_profilers(self) -> None:
        if self._emit_nvtx:
            if self._parent_profiler is None:
                self._parent_profiler = torch.cuda.profiler.profile()
            self.profiler = self._create_profiler(torch.autograd.profiler.emit_nvtx)
        else:
            self._parent_profiler = None
            self.profiler = self._create_profiler(
                torch.profiler.profile if self._kineto else torch.autograd.profiler.profile)

    def _create_profiler(self, profiler_cls: type) -> Any:
        accepted = inspect.signature(profiler_cls.__init__).parameters
        return profiler_cls(**{k: v for k, v in self._profiler_kwargs.items() if k in accepted})

    def _events(self) -> Any:
        if not self._kineto:
            return self.profiler.function_events
        if getattr(self.profiler, "profiler", None) is None:
            return None  # the schedule never left NONE (no `*_step` action ran): nothing was recorded
        return self.profiler.events()

    def _delete_profilers(self) -> None:
        if self.profiler is not None:
            self.profiler.__exit__(None, None, None)
            if not self._emit_nvtx:
                self.function_events = self._events()
            self.profiler = None
        if self._schedule is not None:
            self._schedule.reset()
        if self._parent_profiler is not None:
            self._parent_profiler.__exit__(None, None, None)
            self._parent_profiler = None
        if self._register is not None:
            self._register.__exit__(None, None, None)
            self._register = None

    def teardown(self, stage: Optional[str]) -> None:
        self._delete_profilers()
        for name in list(self._recording_map):
            self.stop(name)
        self._recording_map = {}
        super().teardown(stage=stage)


# Lightning's name for the class in the same role (a schedule counted per kind of step)
ScheduleWrapper = _StageSchedule


def __getattr__(name: str) -> Any:
    # names Lightning's module also exports, imported on first use (fastlit._reexport)
    from fastlit._reexport import lazy_exports

    return lazy_exports(__name__, {"is_cuda_available": "fastlit.accelerators.cuda",
                                   "log": "fastlit.profilers.profiler"})(name)
