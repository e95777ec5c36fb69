"""``self.log`` storage: values stay tensors on their device; python numbers appear only when emitted.

A ``_Metric`` keeps the last step value and, for epoch-level logging, a running (weighted) reduction built with
tensor ops, so logging costs no host sync per step. ``Results`` is one stage's collection (train or eval).
"""
from __future__ import annotations

from typing import Any, Callable, Optional, Union

import torch
from torch import Tensor

from fastlit.utilities.exceptions import MisconfigurationException

# (default on_step, default on_epoch, allowed on_step, allowed on_epoch) per hook that may call self.log;
# Lightning 2.x's table. Hooks missing here may not log.
_T, _F = (True,), (False,)
_TF = (False, True)
_STEP_HOOK = (True, False, _TF, _TF)
_EPOCH_HOOK = (False, True, _F, _T)
_EVAL_STEP_HOOK = (False, True, _TF, _TF)
FX_DEFAULTS: dict[str, tuple] = {
    **{fx: _STEP_HOOK for fx in (
        "training_step", "on_train_batch_start", "on_train_batch_end", "on_before_backward", "on_after_backward",
        "on_before_optimizer_step", "on_before_zero_grad", "optimizer_step", "optimizer_zero_grad",
        "configure_gradient_clipping", "clip_gradients", "backward")},
    **{fx: _EVAL_STEP_HOOK for fx in (
        "validation_step", "test_step", "on_validation_batch_start", "on_validation_batch_end",
        "on_test_batch_start", "on_test_batch_end")},
    **{fx: _EPOCH_HOOK for fx in (
        "on_train_start", "on_train_epoch_start", "on_train_epoch_end", "on_validation_start",
        "on_validation_epoch_start", "on_validation_epoch_end", "on_test_start", "on_test_epoch_start",
        "on_test_epoch_end")},
}
# hooks that exist but may not call self.log (Lightning 2.x's list): "You can't `self.log()` inside ..."
FX_NO_LOGGING = frozenset((
    "lr_scheduler_step", "on_fit_start", "on_fit_end", "on_sanity_check_start", "on_sanity_check_end",
    "on_train_end", "on_validation_end", "on_test_end", "on_predict_start", "on_predict_end",
    "on_predict_epoch_start", "on_predict_epoch_end", "on_before_batch_transfer", "transfer_batch_to_device",
    "on_after_batch_transfer", "on_predict_batch_start", "on_predict_batch_end", "on_exception", "state_dict",
    "on_save_checkpoint", "on_load_checkpoint", "load_state_dict", "setup", "teardown", "configure_sharded_model",
    "configure_model", "predict_step", "configure_optimizers", "train_dataloader", "val_dataloader",
    "test_dataloader", "prepare_data", "configure_callbacks", "on_validation_model_zero_grad",
    "on_validation_model_eval", "on_test_model_eval", "on_validation_model_train", "on_test_model_train"))
_REDUCE = {"mean": "mean", "avg": "mean", "sum": "sum", "max": "max", "min": "min"}
_REDUCE_FN = {torch.mean: "mean", torch.sum: "sum", torch.max: "max", torch.min: "min", max: "max", min: "min", sum: "sum"}


def _reduce_name(reduce_fx: Union[str, Callable]) -> str:
    name = _REDUCE.get(reduce_fx.lower()) if isinstance(reduce_fx, str) else _REDUCE_FN.get(reduce_fx)
    if name is None:
        raise MisconfigurationException(
            "Only `self.log(..., reduce_fx={min,max,mean,sum})` are supported. If you need a custom reduction, "
            f"please log a `torchmetrics.Metric` instance instead. Found: {reduce_fx}"
        )
    return name


def _bad_value_message(name: str, value: Any) -> str:
    """Lightning's ValueError text for a value ``self.log`` cannot take."""
    if isinstance(value, dict) and any(isinstance(v, dict) for v in value.values()):
        return f"`self.log({name}, {value})` was called, but nested dictionaries cannot be logged"
    return (f"`self.log({name}, {value})` was called, but `{type(value).__name__}` values cannot be logged. Log a "
            "number, a scalar tensor or a torchmetrics Metric.")


def _batch_size(batch: Any) -> int:
    """Size of the first tensor found in ``batch`` (Lightning's rule for weighting epoch means)."""
    if isinstance(batch, Tensor):
        return 1 if batch.ndim == 0 else batch.size(0)
    if isinstance(batch, (str, bytes)):
        return 1
    if isinstance(batch, dict):
        batch = list(batch.values())
    if isinstance(batch, (list, tuple)):
        for b in batch:
            size = _batch_size(b)
            if size is not None:
                return size
    return 1


class _Metric:
    """One logged name in one hook: last step value plus an epoch accumulator."""

    __slots__ = ("name", "fx", "prog_bar", "logger", "on_step", "on_epoch", "reduce", "dl_idx", "step_value",
                 "total", "count", "fresh", "meta", "sync", "tm")

    def __init__(self, name: str, fx: str, prog_bar: bool, logger: bool, on_step: bool, on_epoch: bool,
                 reduce: str, dl_idx: Optional[int], meta: tuple) -> None:
        self.name, self.fx, self.prog_bar, self.logger = name, fx, prog_bar, logger
        self.on_step, self.on_epoch, self.reduce, self.dl_idx, self.meta = on_step, on_epoch, reduce, dl_idx, meta
        self.step_value: Any = None
        self.total: Any = None
        self.count: Any = 0
        self.fresh = False  # logged since the last reset
        self.sync: Optional[Callable] = None  # cross-rank reduce for sync_dist=True (DDP only)
        self.tm: Any = None  # a torchmetrics Metric logged as the value: it accumulates (and syncs) itself

    def update(self, value: Any, batch_size: int) -> None:
        if self.on_step:
            # Lightning syncs the step value (only) when it is logged; the epoch totals are synced at the end
            self.step_value = value if self.sync is None else self.sync(torch.as_tensor(value), reduce_op=self.reduce)
        if self.on_epoch:
            total = self.total
            if self.reduce == "mean":
                v = value * batch_size if batch_size != 1 else value
                self.total = v if total is None else total + v
                self.count += batch_size
            elif self.reduce == "sum":
                self.total = value if total is None else total + value
            elif self.reduce == "max":
                self.total = value if total is None else torch.maximum(torch.as_tensor(total), torch.as_tensor(value))
            else:
                self.total = value if total is None else torch.minimum(torch.as_tensor(total), torch.as_tensor(value))
        self.fresh = True

    def log_torchmetric(self, metric: Any) -> None:
        """Lightning's rule for a logged torchmetrics Metric: the step value is what its last ``forward``
        returned; the epoch value is ``compute()`` (the metric reduces across ranks itself), then ``reset()``."""
        self.tm = metric
        if self.on_step:
            cache = getattr(metric, "_forward_cache", None)
            self.step_value = cache.detach() if isinstance(cache, Tensor) else cache
        self.fresh = True

    def epoch_value(self) -> Any:
        if self.tm is not None:
            return self.tm.compute() if self.on_epoch else None
        if self.total is None:
            return None
        total, count = self.total, self.count
        if self.sync is not None:  # Lightning's sync_dist: reduce the running totals, then divide
            total = self.sync(torch.as_tensor(total, dtype=torch.get_default_dtype()),
                              reduce_op="sum" if self.reduce == "mean" else self.reduce)
            if self.reduce == "mean":
                count = self.sync(torch.as_tensor(count, dtype=torch.get_default_dtype(), device=total.device),
                                  reduce_op="sum")
        if self.reduce == "mean":
            return total / count
        return total

    def reset(self) -> None:
        if self.tm is not None and self.fresh:
            self.tm.reset()
        self.step_value, self.total, self.count, self.fresh = None, None, 0, False


class Results:
    """The values logged during one stage (``training=True`` for fit's train part)."""

    DATALOADER_SUFFIX = "/dataloader_idx_{}"

    def __init__(self, training: bool, reduce: Optional[Callable] = None) -> None:
        self.training = training
        self.reduce = reduce  # the strategy's cross-rank reduce under DDP, else None
        self.items: dict[tuple, _Metric] = {}
        self.batch: Any = None  # the current batch, read only if a batch size is needed
        self.dataloader_idx: Optional[int] = None

    def log(self, fx: Optional[str], name: str, value: Any, prog_bar: bool, logger: bool, on_step: Optional[bool],
            on_epoch: Optional[bool], reduce_fx: Union[str, Callable], enable_graph: bool = False,
            add_dataloader_idx: bool = True, batch_size: Optional[int] = None, sync_dist: bool = False) -> None:
        dl_idx = self.dataloader_idx if add_dataloader_idx else None
        key = (fx, name, dl_idx)
        metric = self.items.get(key)
        if metric is None or metric.meta != (prog_bar, logger, on_step, on_epoch, reduce_fx, sync_dist):
            metric = self._new_metric(key, fx, name, prog_bar, logger, on_step, on_epoch, reduce_fx, dl_idx, metric)
            metric.meta = (prog_bar, logger, on_step, on_epoch, reduce_fx, sync_dist)
            metric.sync = self.reduce if sync_dist else None
        if isinstance(value, Tensor):
            if value.numel() != 1:
                raise ValueError(
                    f"`self.log({name}, {value})` was called, but the tensor must have a single element (shape "
                    f"{tuple(value.shape)}). You can try doing `self.log({name}, {value}.mean())`"
                )
            if not enable_graph:
                value = value.detach()
            if not value.is_floating_point():
                value = value.to(torch.get_default_dtype())
        elif isinstance(value, bool) or not isinstance(value, (int, float)):
            if hasattr(value, "compute") and hasattr(value, "update") and hasattr(value, "reset"):
                metric.log_torchmetric(value)  # torchmetrics is never imported here: duck-typed
                return
            if not isinstance(value, bool):
                raise ValueError(_bad_value_message(name, value))
            value = float(value)
        else:
            value = float(value)
        if metric.on_epoch and metric.reduce == "mean":
            if batch_size is None:
                batch_size = _batch_size(self.batch) if self.batch is not None else 1
        else:
            batch_size = 1
        metric.update(value, batch_size)

    def _new_metric(self, key: tuple, fx: Optional[str], name: str, prog_bar: bool, logger: bool,
                    on_step: Optional[bool], on_epoch: Optional[bool], reduce_fx: Union[str, Callable],
                    dl_idx: Optional[int], old: Optional[_Metric]) -> _Metric:
        if old is not None and old.fresh:
            raise MisconfigurationException(
                f"You called `self.log({name}, ...)` twice in `{fx}` with different arguments. This is not allowed"
            )
        spec = FX_DEFAULTS.get(fx or "")
        if spec is None:
            if fx is None:
                raise MisconfigurationException(
                    "You are trying to `self.log()` but it is not managed by the `Trainer` control flow")
            if fx not in FX_NO_LOGGING:
                raise RuntimeError(f"Logging inside `{fx}` is not implemented.")
            raise MisconfigurationException(
                f"You can't `self.log()` inside `{fx}`. HINT: You can still log directly to the logger by using"
                " `self.logger.experiment`; log from a step or epoch-end hook.")
        d_step, d_epoch, ok_step, ok_epoch = spec
        step = d_step if on_step is None else bool(on_step)
        epoch = d_epoch if on_epoch is None else bool(on_epoch)
        for arg, val, ok in (("on_step", step, ok_step), ("on_epoch", epoch, ok_epoch)):
            if val not in ok:
                raise MisconfigurationException(
                    f"You can't `self.log({arg}={val})` inside `{fx}`, must be one of {ok}.")
        if not step and not epoch:
            raise MisconfigurationException("`self.log(on_step=False, on_epoch=False)` is not useful.")
        for other in self.items.values():
            if other.name == name and other.fx != fx and other.dl_idx == dl_idx and other.fresh:
                raise MisconfigurationException(
                    f"You called `self.log({name!r}, ...)` in `{other.fx}` and in `{fx}`; each name may be logged "
                    "from one hook only. Use a different name."
                )
        metric = _Metric(name, fx or "", prog_bar, logger, step, epoch, _reduce_name(reduce_fx), dl_idx,
                         (prog_bar, logger, on_step, on_epoch, reduce_fx))
        self.items[key] = metric
        return metric

    def _names(self, m: _Metric, on_step: bool) -> tuple[str, str]:
        name = m.name
        forked = name + ("_step" if on_step else "_epoch") if (m.on_step and m.on_epoch) else name
        if m.dl_idx is not None:
            suffix = self.DATALOADER_SUFFIX.format(m.dl_idx)
            return name + suffix, forked + suffix
        return name, forked

    def metrics(self, on_step: bool) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        """(log, progress bar, callback) dicts of step values (``on_step``) or epoch values."""
        log: dict[str, Any] = {}
        pbar: dict[str, Any] = {}
        callback: dict[str, Any] = {}
        for m in self.items.values():
            if not m.fresh:
                continue
            if on_step:
                if not m.on_step:
                    continue
                value = m.step_value
            else:
                if not m.on_epoch:
                    continue
                value = m.epoch_value()
            if value is None:
                continue
            if not isinstance(value, Tensor):
                value = torch.tensor(value)
            name, forked = self._names(m, on_step)
            if m.logger:
                log[forked] = value
            if self.training or (m.on_epoch and not on_step):
                callback[name] = value
                callback[forked] = value
            if m.prog_bar:
                pbar[forked] = value
        return log, pbar, callback

    def has_step_metrics(self) -> bool:
        return any(m.on_step and m.fresh for m in self.items.values())

    def reset(self) -> None:
        for m in self.items.values():
            m.reset()
