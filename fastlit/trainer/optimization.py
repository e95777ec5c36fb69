"""Trainer helpers around the optimizer step: configure_optimizers, the fused swap, backward, clipping, and the
step taken through ``LightningOptimizer`` (manual optimization, ``optimizer_step`` overrides)."""
from __future__ import annotations

import contextlib
from typing import Any, Callable, Optional

import torch
from torch import Tensor

from fastlit.core.module import LightningModule
from fastlit.core.optimizer import LightningOptimizer
from fastlit.trainer import errors
from fastlit.trainer.optimizers import LRSchedulerConfig, _MockOptimizer, parse_configure_optimizers
from fastlit.utilities.exceptions import MisconfigurationException
from fastlit.utilities.model_helpers import is_overridden
from fastlit.utilities.rank_zero import WarningCache, rank_zero_warn

_warnings = WarningCache()
_NULL = contextlib.nullcontext()


class OptimizationMixin:
    """Part of ``Trainer``: everything between ``training_step``'s loss and the parameter update."""

    def _setup_optimizers(self, model: LightningModule) -> None:
        if not is_overridden("configure_optimizers", model, LightningModule):
            raise MisconfigurationException(
                "No `configure_optimizers()` method defined. Lightning `Trainer` expects as minimum a "
                "`training_step()`, `train_dataloader()` and `configure_optimizers()` to be defined.")
        model._current_fx_name = "configure_optimizers"
        out = model.configure_optimizers()
        model._current_fx_name = None
        optimizers, configs = parse_configure_optimizers(out)
        if not optimizers:
            rank_zero_warn("`LightningModule.configure_optimizers` returned `None`, this fit will run with no optimizer")
        if model.automatic_optimization and len(optimizers) > 1:
            raise RuntimeError(
                "Training with multiple optimizers is only supported with manual optimization. Set "
                "`self.automatic_optimization = False`, then access your optimizers in `training_step` with "
                "`opt1, opt2, ... = self.optimizers()`.")
        if self.fused_optimizer:
            optimizers = [self._maybe_fuse(o, configs) for o in optimizers]
        # gradient_clip_val by norm with a fused optimizer: one norm pass, and the clip factor is applied inside
        # the update (no separate clip pass). A user's configure_gradient_clipping keeps the hook path.
        self._clip_in_step = bool(
            self.gradient_clip_val and self.gradient_clip_algorithm in (None, "norm") and len(optimizers) == 1
            and model.automatic_optimization and hasattr(optimizers[0], "max_grad_norm")
            and not is_overridden("configure_gradient_clipping", model, LightningModule))
        if self._clip_in_step:
            optimizers[0].max_grad_norm = float(self.gradient_clip_val)
        if not optimizers:  # Lightning trains on with a do-nothing optimizer (steps are still counted)
            optimizers = [_MockOptimizer()]
        self.optimizers = optimizers
        self.lr_scheduler_configs = configs
        self._lightning_optimizers = []
        for o in optimizers:
            lo = LightningOptimizer(o)
            lo._trainer = self
            self._lightning_optimizers.append(lo)

    def _maybe_fuse(self, optimizer: torch.optim.Optimizer, configs: list[LRSchedulerConfig]) -> torch.optim.Optimizer:
        """Swap torch's Adam/AdamW/SGD for the fused kernels in place (schedulers keep working)."""
        try:
            from fastlit.optim import to_fused
        except ImportError:
            return optimizer
        fused, reason = to_fused(optimizer)
        if fused is None:
            if reason:
                _warnings.info(f"fastlit: keeping {type(optimizer).__name__} unfused: {reason}")
            return optimizer
        return fused

    def _backward(self, loss: Tensor) -> None:
        scaler = self.precision_plugin.scaler
        if scaler is not None:
            loss = scaler.scale(loss)
        self._call("on_before_backward", loss)
        module = self.lightning_module
        with self.profiler.profile(f"[Strategy]{type(self.strategy).__name__}.backward") if self._profiling else _NULL:
            if self._module_backward:
                module.backward(loss)
            else:
                loss.backward()
        self._call("on_after_backward")

    def _manual_backward(self, loss: Tensor, *args: Any, **kwargs: Any) -> None:
        scaler = self.precision_plugin.scaler
        if scaler is not None:
            loss = scaler.scale(loss)
        self._call("on_before_backward", loss)
        self.lightning_module.backward(loss, *args, **kwargs)
        self._call("on_after_backward")

    def _clip_gradients(self, optimizer: Any, clip_val: Optional[float], algorithm: Optional[str]) -> None:
        if clip_val is None or clip_val <= 0:
            return
        opt = optimizer.optimizer if isinstance(optimizer, LightningOptimizer) else optimizer
        scaler = self.precision_plugin.scaler
        if scaler is not None and not _already_unscaled(scaler, opt):
            scaler.unscale_(opt)  # clipping thresholds are in unscaled units
        params = [p for g in opt.param_groups for p in g["params"] if p.grad is not None]
        from fastlit.optim import clip_grad_norm_, clip_grad_value_  # fused kernels (torch's without the extension)

        if algorithm == "value":
            clip_grad_value_(params, clip_val)
        else:
            clip_grad_norm_(params, clip_val)

    def _optimizer_step_from_wrapper(self, optimizer: torch.optim.Optimizer, closure: Optional[Callable],
                                     **kwargs: Any) -> Any:
        """``LightningOptimizer.step``: scaler-aware step; in manual optimization it also counts the step."""
        module = self.lightning_module
        scaler = self.precision_plugin.scaler
        # Lightning's order: the closure (training_step, zero_grad, backward) runs first, then unscale,
        # on_before_optimizer_step and gradient clipping, then the step itself.
        if scaler is not None:
            result = closure() if closure is not None else None
            skip = result is None and module.automatic_optimization  # no backward ran: nothing to step
            if not skip:
                scaler.unscale_(optimizer)
            self._after_closure(optimizer)
            out = None
            if not skip:
                out = scaler.step(optimizer, **kwargs)
                errors.note_scaler_step(self, scaler, optimizer)
                scaler.update()
        elif closure is not None:
            def wrapped() -> Any:
                result = closure()
                self._after_closure(optimizer)
                return result

            out = optimizer.step(closure=wrapped, **kwargs)
        else:
            self._after_closure(optimizer)
            out = optimizer.step(**kwargs)
        if not module.automatic_optimization:
            self.global_step += 1
        return out

    def _after_closure(self, optimizer: torch.optim.Optimizer) -> None:
        self._call("on_before_optimizer_step", optimizer)
        module = self.lightning_module
        if module.automatic_optimization and getattr(self, "_clip_hook", False):
            prev, module._current_fx_name = module._current_fx_name, "configure_gradient_clipping"
            module.configure_gradient_clipping(optimizer, self.gradient_clip_val, self.gradient_clip_algorithm)
            module._current_fx_name = prev


def _already_unscaled(scaler: Any, optimizer: Any) -> bool:
    """Whether ``scaler.unscale_(optimizer)`` already ran since the last ``update()`` (calling it twice raises)."""
    state = getattr(scaler, "_per_optimizer_states", {}).get(id(optimizer), {})
    stage = state.get("stage")
    return stage is not None and getattr(stage, "name", "") == "UNSCALED"
