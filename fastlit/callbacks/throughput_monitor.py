"""``ThroughputMonitor``: samples/batches/items/FLOPs per second and MFU for each stage, logged like Lightning's
(``train/samples_per_sec``-style keys from ``fastlit.utilities.throughput.Throughput``, at the Trainer's logging
interval, validation time kept out of the training rates).

Beyond Lightning, with ``measure=True``: a module without ``flops_per_batch`` gets the FLOPs of its first batch of
each stage counted by ``torch.utils.flop_counter`` (that batch runs under the counter; no extra forward), MFU is
taken against a peak measured on the device at set-up (a short GEMM; the CPU included), and training logs
``train/data_wait_share``, the share of training time spent between batches (fetching and moving data). Off by
default, so the logged keys are exactly Lightning's.
"""
from __future__ import annotations

import time
from typing import Any, Callable, Optional

import torch

from fastlit.callbacks.callback import Callback
from fastlit.trainer.states import RunningStage, TrainerFn
from fastlit.utilities.rank_zero import rank_zero_only, rank_zero_warn
from fastlit.utilities.throughput import Throughput, get_available_flops, measure_peak_flops
from fastlit.utilities.throughput import precision_to_compute_dtype as _precision_to_compute_dtype


class ThroughputMonitor(Callback):
    """Log throughput (and MFU when FLOPs and the device peak are known) for every stage.

    Args:
        batch_size_fn: number of samples in a batch.
        length_fn: number of items (e.g. tokens) in a batch; enables ``items_per_sec``.
        measure: fastlit only: count FLOPs when the module has no ``flops_per_batch``, measure the device peak
            when no table value exists (the CPU), and log ``train/data_wait_share``.
        **kwargs: ``window_size`` and ``separator`` for ``Throughput``.
    """

    def __init__(self, batch_size_fn: Callable[[Any], int], length_fn: Optional[Callable[[Any], int]] = None,
                 measure: bool = False, **kwargs: Any) -> None:
        super().__init__()
        self.kwargs = kwargs
        self.batch_size_fn = batch_size_fn
        self.length_fn = length_fn
        self.measure = measure
        self.available_flops: Optional[int] = None
        self._throughputs: dict[RunningStage, Throughput] = {}
        self._t0s: dict[RunningStage, float] = {}
        self._lengths: dict[RunningStage, int] = {}
        self._samples: dict[RunningStage, int] = {}
        self._batches: dict[RunningStage, int] = {}
        self._module_has_flops: Optional[bool] = None
        # evaluation batches finished: over the trainer's life (the logging step) and in the current run
        self._eval_total: dict[tuple, int] = {}
        self._eval_run: dict[RunningStage, int] = {}
        self._trainer_id: Optional[int] = None
        # measure=True: FLOPs of one batch per stage, the counter while it runs, time spent between batches
        self._stage_flops: dict[RunningStage, int] = {}
        self._counter: Optional[Any] = None
        self._wait_ns = 0
        self._last_end_ns: Optional[int] = None

    def setup(self, trainer: Any, pl_module: Any, stage: str) -> None:
        if self._trainer_id != id(trainer):  # Lightning's counters live in the trainer's loops
            self._trainer_id, self._eval_total = id(trainer), {}
        dtype = _precision_to_compute_dtype(trainer.precision)
        self.available_flops = get_available_flops(trainer.strategy.root_device, dtype)
        if self.available_flops is None and self.measure:
            self.available_flops = measure_peak_flops(trainer.strategy.root_device, dtype)
        if stage == TrainerFn.FITTING and trainer.enable_validation:  # validation runs inside fit
            self._throughputs[RunningStage.VALIDATING] = self._new_throughput(trainer)
        self._throughputs[trainer.state.stage] = self._new_throughput(trainer)

    def _new_throughput(self, trainer: Any) -> Throughput:
        return Throughput(available_flops=self.available_flops, world_size=trainer.world_size, **self.kwargs)

    def _start(self, trainer: Any) -> None:
        stage = trainer.state.stage
        if trainer.state.fn == TrainerFn.FITTING or stage not in self._samples:
            self._throughputs[stage].reset()
            self._lengths[stage] = self._samples[stage] = self._batches[stage] = 0
        self._eval_run[stage] = 0
        if stage == RunningStage.TRAINING:
            self._wait_ns, self._last_end_ns = 0, None
        self._t0s[stage] = time.perf_counter()

    @torch.inference_mode()  # batch_size_fn/length_fn must not record autograd history
    def _update(self, trainer: Any, pl_module: Any, batch: Any) -> None:
        stage = trainer.state.stage
        if trainer.strategy.root_device.type == "cuda":
            torch.cuda.synchronize()  # the step's kernels are part of its time
        elapsed = time.perf_counter() - self._t0s[stage]
        if self.length_fn is not None:
            self._lengths[stage] += self.length_fn(batch)
        self._samples[stage] += self.batch_size_fn(batch)
        self._batches[stage] += 1
        self._throughputs[stage].update(
            time=elapsed, batches=self._batches[stage], samples=self._samples[stage],
            lengths=None if self.length_fn is None else self._lengths[stage], flops=self._flops(pl_module, stage))

    def _flops(self, pl_module: Any, stage: RunningStage) -> Optional[int]:
        if self._module_has_flops is None:
            self._module_has_flops = hasattr(pl_module, "flops_per_batch")
            if not self._module_has_flops and not self.measure:
                rank_zero_warn("When using the `ThroughputMonitor`, you need to define a `flops_per_batch` attribute "
                               f"or property in {type(pl_module).__name__} to compute the FLOPs.")
        if self._module_has_flops:
            return pl_module.flops_per_batch
        return self._stage_flops.get(stage)

    def _compute(self, trainer: Any, should_log: bool, step: Optional[int] = None) -> None:
        if not should_log:
            return
        stage = trainer.state.stage
        throughput = self._throughputs[stage]
        sep = throughput.separator
        metrics = {f"{stage.value}{sep}{k}": v for k, v in throughput.compute().items()}
        if self.measure and stage == RunningStage.TRAINING and metrics[f"train{sep}time"] > 0:
            metrics[f"train{sep}data_wait_share"] = self._wait_ns * 1e-9 / metrics[f"train{sep}time"]
        if trainer.loggers:
            trainer.logged_metrics.update(metrics)
            trainer._emit(metrics, step=step)

    def _should_log_train(self, trainer: Any) -> bool:
        every = trainer.log_every_n_steps
        return bool(every) and ((trainer.fit_loop._batches_that_stepped + 1) % every == 0 or trainer.should_stop)

    def _eval_batch_end(self, trainer: Any, pl_module: Any, batch: Any) -> None:
        stage = trainer.state.stage
        key = (trainer.state.fn, stage)
        self._eval_total[key] = self._eval_total.get(key, 0) + 1
        self._eval_run[stage] += 1
        self._finish_counting(stage)
        self._update(trainer, pl_module, batch)
        every = trainer.log_every_n_steps
        self._compute(trainer, bool(every) and self._eval_run[stage] % every == 0, self._eval_total[key])

    # ---- measure=True: FLOPs of the first batch of a stage, time between training batches
    def _batch_start(self, trainer: Any, pl_module: Any) -> None:
        stage = trainer.state.stage
        if stage in self._stage_flops or hasattr(pl_module, "flops_per_batch"):
            return
        from torch.utils.flop_counter import FlopCounterMode

        self._counter = FlopCounterMode(display=False)
        self._counter.__enter__()

    def _finish_counting(self, stage: RunningStage) -> None:
        if self._counter is not None:
            self._counter.__exit__(None, None, None)
            self._stage_flops[stage] = self._counter.get_total_flops()
            self._counter = None

    @rank_zero_only
    def on_train_batch_start(self, trainer: Any, pl_module: Any, batch: Any, batch_idx: int) -> None:
        if not self.measure:
            return
        if self._last_end_ns is not None:
            self._wait_ns += time.perf_counter_ns() - self._last_end_ns
        self._batch_start(trainer, pl_module)

    def on_validation_batch_start(self, trainer: Any, pl_module: Any, *args: Any, **kwargs: Any) -> None:
        if self.measure and not trainer.sanity_checking and rank_zero_only.rank == 0:
            self._batch_start(trainer, pl_module)

    def on_test_batch_start(self, trainer: Any, pl_module: Any, *args: Any, **kwargs: Any) -> None:
        if self.measure and rank_zero_only.rank == 0:
            self._batch_start(trainer, pl_module)

    on_predict_batch_start = on_test_batch_start

    def on_exception(self, trainer: Any, pl_module: Any, exception: BaseException) -> None:
        self._finish_counting(trainer.state.stage)  # never leave the counter's dispatch mode pushed

    # ---- Lightning's hooks
    @rank_zero_only
    def on_train_start(self, trainer: Any, *_: Any) -> None:
        self._start(trainer)

    @rank_zero_only
    def on_train_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
        self._finish_counting(RunningStage.TRAINING)
        self._update(trainer, pl_module, batch)
        # rates are logged only after an optimizer step, so its time is inside them
        stepped = (batch_idx + 1) % trainer.accumulate_grad_batches == 0 or batch_idx + 1 == trainer.num_training_batches
        if stepped:
            self._compute(trainer, self._should_log_train(trainer))
        if self.measure:
            self._last_end_ns = time.perf_counter_ns()

    @rank_zero_only
    def on_validation_start(self, trainer: Any, *_: Any) -> None:
        if not trainer.sanity_checking:
            self._start(trainer)

    @rank_zero_only
    def on_validation_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, *_: Any,
                                **__: Any) -> None:
        if not trainer.sanity_checking:
            self._eval_batch_end(trainer, pl_module, batch)

    @rank_zero_only
    def on_validation_end(self, trainer: Any, *_: Any) -> None:
        if trainer.sanity_checking or trainer.state.fn != TrainerFn.FITTING:
            return
        # move the training clock forward by the validation (and the gap before it), so training rates do not sink
        train_times = self._throughputs[RunningStage.TRAINING]._time
        val_times = self._throughputs[RunningStage.VALIDATING]._time
        train_finished = self._t0s[RunningStage.TRAINING] + (train_times[-1] if train_times else 0.0)
        gap = self._t0s[RunningStage.VALIDATING] - train_finished
        self._t0s[RunningStage.TRAINING] += gap + (val_times[-1] if val_times else 0.0)
        if self._last_end_ns is not None:
            self._last_end_ns = time.perf_counter_ns()  # validation is not waiting for training data

    @rank_zero_only
    def on_test_start(self, trainer: Any, *_: Any) -> None:
        self._start(trainer)

    @rank_zero_only
    def on_test_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, *_: Any, **__: Any) -> None:
        self._eval_batch_end(trainer, pl_module, batch)

    @rank_zero_only
    def on_predict_start(self, trainer: Any, *_: Any) -> None:
        self._start(trainer)

    @rank_zero_only
    def on_predict_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, *_: Any,
                             **__: Any) -> None:
        self._eval_batch_end(trainer, pl_module, batch)


# Names Lightning's module also exports, imported on first use (see fastlit._reexport).
from fastlit._reexport import lazy_exports  # noqa: E402

__getattr__ = lazy_exports(__name__, {
    "BitsandbytesPrecision": "fastlit.plugins.precision.bitsandbytes",
    "DeepSpeedPrecision": "fastlit.plugins.precision.deepspeed",
    "DoublePrecision": "fastlit.plugins.precision.double",
    "FSDPPrecision": "fastlit.plugins.precision.fsdp",
    "HalfPrecision": "fastlit.plugins.precision.half",
    "MixedPrecision": "fastlit.plugins.precision.amp",
    "Precision": "fastlit.plugins.precision.precision",
    "TransformerEnginePrecision": "fastlit.plugins.precision.transformer_engine",
    "XLAPrecision": "fastlit.plugins.precision.xla",
})
