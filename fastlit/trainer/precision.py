"""The precision plugin, the one seam of the optimizer step (as Lightning's ``Precision`` plugin is).

It owns the precision settings (autocast for the ``*-mixed`` modes, a loss scaler for fp16, casts for
``*-true``) and everything between a loss and the parameter update: ``backward`` (scale, the backward hooks),
``optimizer_step`` (unscale -> ``on_before_optimizer_step`` -> clip -> step -> skipped-step count -> scaler
update) and ``clip_gradients``, including the decision to clip inside a fused optimizer's step. The automatic
loop, ``LightningOptimizer.step``, ``LightningModule.manual_backward`` and ``LightningModule.clip_gradients`` all
call it. The loop still calls ``loss.backward()``/``optimizer.step()`` itself when nothing here has work to do
(``needs_backward``/``needs_step``, read once per epoch), so a plain step pays nothing for the seam.
"""
from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any, Callable, Optional, Union

import torch
from torch import Tensor

from fastlit.core.module import LightningModule
from fastlit.core.optimizer import LightningOptimizer
from fastlit.utilities.apply_func import apply_to_collection
from fastlit.utilities.exceptions import MisconfigurationException
from fastlit.utilities.model_helpers import is_overridden

if TYPE_CHECKING:
    from fastlit.trainer.hooks import HookTable

_NULL = contextlib.nullcontext()
_NO_KWARGS: dict[str, Any] = {}

_ALIASES = {
    None: "32-true", 32: "32-true", "32": "32-true", "32-true": "32-true",
    64: "64-true", "64": "64-true", "64-true": "64-true",
    16: "16-mixed", "16": "16-mixed", "16-mixed": "16-mixed",
    "bf16": "bf16-mixed", "bf16-mixed": "bf16-mixed",
    "16-true": "16-true", "bf16-true": "bf16-true",
}
_TRUE_DTYPES = {"64-true": torch.float64, "16-true": torch.float16, "bf16-true": torch.bfloat16}


def _grad_scaler(device_type: str) -> torch.amp.GradScaler:
    """fastlit's scaler (no separate unscale/check pass with fused optimizers) when the extension is built."""
    from fastlit._ext import EXT_AVAILABLE

    if EXT_AVAILABLE:
        from fastlit.amp import GradScaler

        return GradScaler(device_type)
    return torch.amp.GradScaler(device_type)


def normalize(precision: Union[str, int, None]) -> str:
    """Map Lightning's precision spellings (16, "bf16", "16-mixed", ...) to one canonical name."""
    try:
        return _ALIASES[precision]
    except (KeyError, TypeError):
        raise MisconfigurationException(
            f"Precision {precision!r} is invalid. Allowed precision values: "
            "('transformer-engine', 'transformer-engine-float16', '16-true', '16-mixed', 'bf16-true', "
            "'bf16-mixed', '32-true', '64-true', 64, 32, 16, '64', '32', '16', 'bf16')"
        ) from None


class Precision:
    """How tensors are computed for one precision setting, and the optimizer step's seam.

    ``connect`` wires it to a fit (module, hook table, clipping settings) once the optimizers exist; until
    then only the settings part (autocast, casts, scaler state) is usable.

    Args:
        precision: a canonical name from ``normalize``.
        device: the training device (autocast and the scaler depend on its type).
    """

    def __init__(self, precision: str, device: torch.device) -> None:
        self.precision = precision
        self.device = device
        self.scaler: Optional[torch.amp.GradScaler] = None
        self._autocast_dtype: Optional[torch.dtype] = None
        if precision == "16-mixed":
            self._autocast_dtype = torch.float16
            self.scaler = _grad_scaler(device.type)
        elif precision == "bf16-mixed":
            self._autocast_dtype = torch.bfloat16
        self.cast_dtype = _TRUE_DTYPES.get(precision)
        self._skipped_dev: Optional[Tensor] = None  # steps the scaler skipped for inf/NaN (kept on the device)
        # set by connect(), once per fit
        self._module: Optional[LightningModule] = None
        self._call: Callable[..., None] = _no_hooks
        self._clip_val: Optional[Union[int, float]] = None
        self._clip_algorithm: Optional[str] = None
        self._clip_hook = False  # on_before_optimizer_step is followed by configure_gradient_clipping
        self._module_backward = False  # call module.backward (overridden, or manual optimization's contract)
        self._backward_profiler: Optional[Any] = None
        self._backward_action = ""

    @property
    def is_default(self) -> bool:
        return self.precision == "32-true"

    @property
    def skipped_steps(self) -> int:
        """Optimizer steps the loss scaler skipped because gradients had inf/NaN (reads the device once)."""
        return int(self._skipped_dev.item()) if self._skipped_dev is not None else 0

    def autocast(self) -> Any:
        """Context manager for forward passes (a no-op outside the mixed modes)."""
        if self._autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self._autocast_dtype)

    def convert_module(self, module: torch.nn.Module) -> torch.nn.Module:
        return module.to(dtype=self.cast_dtype) if self.cast_dtype is not None else module

    def convert_input(self, batch: Any) -> Any:
        if self.cast_dtype is None:
            return batch
        dtype = self.cast_dtype
        return apply_to_collection(batch, torch.Tensor, lambda t: t.to(dtype) if t.is_floating_point() else t)

    def state_dict(self) -> dict[str, Any]:
        return self.scaler.state_dict() if self.scaler is not None else {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if self.scaler is not None and state:
            self.scaler.load_state_dict(state)

    # ------------------------------------------------------------------ the optimizer-step seam
    def connect(self, module: LightningModule, hooks: "HookTable", optimizers: list[torch.optim.Optimizer],
                clip_val: Optional[Union[int, float]], clip_algorithm: Optional[str],
                profiler: Optional[Any] = None) -> None:
        """Wire the seam to a fit, once its optimizers exist; decides how ``Trainer(gradient_clip_val=...)`` clips.

        Clipping by norm with one fused optimizer (it has ``max_grad_norm``) happens inside its step: one norm
        pass and the factor applied in the update, no separate clip pass. Otherwise (by value, several or unfused
        optimizers, or a user's ``configure_gradient_clipping``) it runs after ``on_before_optimizer_step``.

        Args:
            module: the LightningModule being fit.
            hooks: the Trainer's hook table (``on_before_backward``, ``on_after_backward``,
                ``on_before_optimizer_step`` are called through it).
            optimizers: the fit's optimizers, after the fused swap.
            clip_val: ``Trainer(gradient_clip_val=...)``.
            clip_algorithm: ``Trainer(gradient_clip_algorithm=...)`` (None means "norm").
            profiler: when given, the automatic loop's backward is timed under Lightning's action name.
        """
        automatic = module.automatic_optimization
        custom_clip = is_overridden("configure_gradient_clipping", module, LightningModule)
        clip_in_step = bool(clip_val and clip_algorithm in (None, "norm") and len(optimizers) == 1 and automatic
                            and hasattr(optimizers[0], "max_grad_norm") and not custom_clip)
        if clip_in_step:
            optimizers[0].max_grad_norm = float(clip_val)
        self._module, self._call = module, hooks.call
        self._clip_val, self._clip_algorithm = clip_val, clip_algorithm
        self._clip_hook = custom_clip or (bool(clip_val) and not clip_in_step)
        # manual optimization always goes through module.backward (its documented contract); the automatic loop
        # only when the module overrides it (the default is loss.backward())
        self._module_backward = not automatic or is_overridden("backward", module, LightningModule)
        # Lightning times the automatic loop's backward as a strategy hook; manual_backward is not timed
        self._backward_profiler = profiler if automatic else None
        self._backward_action = f"[Strategy]{type(module.trainer.strategy).__name__}.backward"

    def needs_backward(self, hooks: "HookTable") -> bool:
        """Whether ``backward`` has work beyond ``loss.backward()``: a scaler, backward hooks, an overridden
        ``module.backward`` or a profiler (the loop decides this once per epoch)."""
        return bool(self.scaler is not None or hooks["on_before_backward"] or hooks["on_after_backward"]
                    or self._module_backward or self._backward_profiler is not None)

    def needs_step(self, hooks: "HookTable") -> bool:
        """Whether ``step`` has work beyond ``optimizer.step()``: a scaler, ``on_before_optimizer_step`` hooks or
        clipping outside the fused step (the loop decides this once per epoch)."""
        return bool(self.scaler is not None or hooks["on_before_optimizer_step"] or self._clip_hook)

    def backward(self, loss: Tensor, *args: Any, **kwargs: Any) -> None:
        """Scale the loss (fp16), ``on_before_backward``, backward, ``on_after_backward``.

        The automatic loop's backward and ``LightningModule.manual_backward`` (whose extra arguments go to
        ``module.backward``)."""
        scaler = self.scaler
        if scaler is not None:
            loss = scaler.scale(loss)
        self._call("on_before_backward", loss)
        prof = self._backward_profiler
        with prof.profile(self._backward_action) if prof is not None else _NULL:
            if self._module_backward or args or kwargs:
                self._module.backward(loss, *args, **kwargs)
            else:
                loss.backward()
        self._call("on_after_backward")

    def optimizer_step(self, optimizer: torch.optim.Optimizer, closure: Optional[Callable[[], Any]] = None,
                       **kwargs: Any) -> Any:
        """``LightningOptimizer.step``'s route (manual optimization, ``optimizer_step`` overrides, LBFGS): run the
        closure (forward, zero_grad, backward), then ``step``. Without a scaler the optimizer calls the closure
        itself (LBFGS re-evaluates it) and the pre-step part runs after each evaluation."""
        if self.scaler is None and closure is not None:
            def closure_then_prepare() -> Any:
                result = closure()
                self._before_step(optimizer)
                return result

            return optimizer.step(closure=closure_then_prepare, **kwargs)
        result = closure() if closure is not None else None
        # automatic optimization whose step returned no loss: no backward ran, so the scaler has nothing to step
        skip = self.scaler is not None and result is None and self._module.automatic_optimization
        return self.step(optimizer, kwargs, skip)

    def step(self, optimizer: torch.optim.Optimizer, kwargs: dict[str, Any] = _NO_KWARGS, skip: bool = False) -> Any:
        """Once the gradients are in: unscale -> ``on_before_optimizer_step`` -> clip -> step -> skipped-step
        count -> scaler update (the automatic loop's route; ``optimizer_step`` ends here too).

        Optimizers that unscale inside their step (fastlit's fused ones) are not unscaled here, as in Lightning;
        ``clip_gradients`` unscales them when it has to, and what it already unscaled (manual optimization:
        ``self.clip_gradients(opt, ...)`` before ``opt.step()``) is not unscaled twice."""
        scaler = self.scaler
        if scaler is not None and not skip and not getattr(optimizer, "_step_supports_amp_scaling", False) \
                and not _already_unscaled(scaler, optimizer):
            scaler.unscale_(optimizer)
        self._before_step(optimizer)
        if skip:
            return None
        if scaler is None:
            return optimizer.step(**kwargs)
        out = scaler.step(optimizer, **kwargs)
        found = getattr(scaler, "_per_optimizer_states", {}).get(id(optimizer), {}).get("found_inf_per_device")
        if found:  # count skipped steps on the device (a tiny add, no host sync); skipped_steps reads it
            flag = sum(found.values())
            self._skipped_dev = flag if self._skipped_dev is None else self._skipped_dev + flag
        scaler.update()
        return out

    def _before_step(self, optimizer: torch.optim.Optimizer) -> None:
        self._call("on_before_optimizer_step", optimizer)
        module = self._module
        if self._clip_hook and module.automatic_optimization:
            prev, module._current_fx_name = module._current_fx_name, "configure_gradient_clipping"
            module.configure_gradient_clipping(optimizer, self._clip_val, self._clip_algorithm)
            module._current_fx_name = prev

    def clip_gradients(self, optimizer: Any, clip_val: Optional[Union[int, float]], algorithm: Optional[str]) -> None:
        """Clip ``optimizer``'s gradients by norm (default) or by value (``LightningModule.clip_gradients``);
        unscales them first under fp16 (thresholds are in unscaled units)."""
        if clip_val is None or clip_val <= 0:
            return
        opt = optimizer.optimizer if isinstance(optimizer, LightningOptimizer) else optimizer
        scaler = self.scaler
        if scaler is not None and not _already_unscaled(scaler, opt):
            scaler.unscale_(opt)
        params = [p for g in opt.param_groups for p in g["params"] if p.grad is not None]
        from fastlit.optim import clip_grad_norm_, clip_grad_value_  # fused kernels (torch's without the extension)

        if algorithm == "value":
            clip_grad_value_(params, clip_val)
        else:
            clip_grad_norm_(params, clip_val)


def _no_hooks(name: str, *args: Any) -> None:
    """The hook caller before ``connect``."""


def _already_unscaled(scaler: Any, optimizer: Any) -> bool:
    """Whether ``scaler.unscale_(optimizer)`` already ran since the last ``update()`` (calling it twice raises)."""
    state = getattr(scaler, "_per_optimizer_states", {}).get(id(optimizer), {})
    stage = state.get("stage")
    return stage is not None and getattr(stage, "name", "") == "UNSCALED"
