"""Machinery shared by fastlit's fused optimizers: the cheap step entry, per-device tensor lists, clipping.

One step = (optional) one norm + non-finite pass over the gradients, then one fused update per param group and
device, with the unscale x clip factor applied inside the update. Everything stays on the device: no host sync.
"""
from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional

import torch
from torch import Tensor
from torch.optim.optimizer import Optimizer, _global_optimizer_post_hooks, _global_optimizer_pre_hooks

from fastlit import _ext, ops

_LOW_PRECISION = tuple(d for d in ops.SUPPORTED_DTYPES if d != torch.float32)  # these get fp32 state


def is_dense(t: Tensor) -> bool:
    """Whether t's elements fill its memory exactly once in some dim order (what the fused ops need)."""
    if t.is_contiguous() or t.numel() == 0:
        return True
    expected = 1
    for size, stride in sorted(((n, s) for n, s in zip(t.shape, t.stride()) if n != 1), key=lambda x: x[1]):
        if stride != expected:
            return False
        expected *= size
    return True


def _profiling() -> bool:
    return torch.autograd.profiler._is_profiler_enabled or torch._C._autograd._profiler_enabled()


class _Bucket:
    """The params of one param group on one device, with their state tensors as flat lists for the ops."""

    __slots__ = ("group", "device", "index", "params", "lists", "first")

    def __init__(self, group: dict, device: torch.device, index: List[int], params: List[Tensor]) -> None:
        self.group, self.device, self.index, self.params = group, device, index, params
        self.lists: Dict[str, List[Tensor]] = {}
        self.first = False  # SGD: these momentum buffers are new (the update copies the gradient into them)


class _GroupPlan:
    """Cached buckets of a param group, valid while the same params have gradients and the state is unchanged."""

    __slots__ = ("params", "n", "state", "mask", "buckets")


class FusedOptimizerMixin:
    """Base of FusedAdam / FusedAdamW / FusedSGD (placed before the torch.optim class in the MRO).

    Subclasses provide `_init_state(p, group)`, `_bucket_lists(bucket)` and `_update(bucket, grads, **scaling)`.
    """

    # torch.amp.GradScaler hands grad_scale / found_inf to step() (as attributes) instead of unscaling first.
    _step_supports_amp_scaling = True
    #: Clip the total 2-norm of all gradients to this value inside the step (None: no clipping).
    max_grad_norm: Optional[float] = None
    #: The total gradient norm (unscaled, before clipping) of the last step that computed one, as a tensor.
    last_grad_norm: Optional[Tensor] = None

    # ------------------------------------------------------------------------------------------------ entry
    def step(self, closure: Optional[Callable[[], Any]] = None) -> Any:
        """Performs one optimization step (fused; see the class docstring)."""
        # torch.optim.Optimizer wraps step() in a profiling context that costs ~10 us per call. Take that path
        # only when something observes it (step hooks or an active profiler).
        if (
            self._optimizer_step_pre_hooks or self._optimizer_step_post_hooks or _global_optimizer_pre_hooks
            or _global_optimizer_post_hooks or _profiling()
        ):
            return self._hooked_step(closure)
        return self._fused_step(closure)

    step.hooked = True  # type: ignore[attr-defined]  # tells Optimizer not to wrap it again

    def _hooked_step(self, closure=None):
        return _PROFILED_STEP(self, closure)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Resets gradients like torch.optim.Optimizer.zero_grad, without its profiling overhead."""
        if not set_to_none or _profiling():
            return super().zero_grad(set_to_none)  # type: ignore[misc]
        for group in self.param_groups:  # type: ignore[attr-defined]
            for p in group["params"]:
                p.grad = None

    def _fused_step(self, closure: Optional[Callable[[], Any]] = None) -> Any:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        if not _ext.EXT_AVAILABLE:
            _ext.warn_if_missing()
            self._fallback_step()
            return loss
        grad_scale: Optional[Tensor] = getattr(self, "grad_scale", None)
        found_inf: Optional[Tensor] = getattr(self, "found_inf", None)
        # fastlit.amp.GradScaler asks the step to find non-finite grads itself, in its norm pass.
        fill_found_inf = found_inf is not None and getattr(self, "_fastlit_fill_found_inf", False)
        prev = torch.is_grad_enabled()
        torch._C._set_grad_enabled(False)
        try:
            work = [(b, g) for group in self.param_groups for b, g in self._group_buckets(group)]
            if not work:
                return loss
            if self.max_grad_norm or fill_found_inf:
                factors, flags = self._norm_pass(work, grad_scale, found_inf if fill_found_inf else None)
                for bucket, grads in work:
                    self._update(bucket, grads, grad_scale=None, found_inf=flags[bucket.device],
                                 grad_factor=factors[bucket.device])
            else:
                for bucket, grads in work:
                    self._update(bucket, grads, grad_scale=_on(grad_scale, bucket.device),
                                 found_inf=_on(found_inf, bucket.device), grad_factor=None)
            for bucket, _ in work:
                if bucket.first:  # the new buffers exist now; rebuild the plan once
                    self._fastlit_plans.pop(id(bucket.group), None)
        finally:
            torch._C._set_grad_enabled(prev)
        return loss

    # --------------------------------------------------------------------------------------------- clipping
    def _norm_pass(self, work, grad_scale: Optional[Tensor], found_inf: Optional[Tensor]):
        """One pass per device: norm of the unscaled grads, non-finite flag, and the unscale x clip factor."""
        by_device: Dict[torch.device, List[Tensor]] = {}
        for bucket, grads in work:
            by_device.setdefault(bucket.device, []).extend(grads)
        max_norm = float(self.max_grad_norm or 0.0)
        results = {}
        for device, grads in by_device.items():
            inv = None if grad_scale is None else grad_scale.to(device).double().reciprocal().float()
            results[device] = (ops.multi_tensor_l2norm(grads, 2.0, False, max_norm, inv), inv)
        if len(results) == 1:
            ((device, (res, _)),) = results.items()
            norm, factors, flags = res.norm, {device: res.grad_factor}, {device: res.nonfinite}
        else:  # the factor depends on the norm over all devices
            first = next(iter(results))
            norm = torch.linalg.vector_norm(torch.stack([r.norm.to(first) for r, _ in results.values()]))
            factors, flags = {}, {}
            for device, (res, inv) in results.items():
                coef = (max_norm / (norm.to(device) + 1e-6)).clamp(max=1.0) if max_norm > 0 else torch.ones(
                    (), device=device)
                factors[device] = coef * inv if inv is not None else coef
                flags[device] = res.nonfinite
        if self.max_grad_norm:
            self.last_grad_norm = norm
        if found_inf is not None:  # report to the scaler; the updates skip on their own flags
            flag = flags[next(iter(flags))] if len(flags) == 1 else sum(f.to(found_inf.device) for f in flags.values())
            found_inf.copy_(flag.to(found_inf.device).clamp(max=1.0))
        elif getattr(self, "found_inf", None) is not None:  # torch's GradScaler already checked the grads
            flags = {d: _on(self.found_inf, d) for d in flags}
        else:
            flags = {d: None for d in flags}  # no scaler: non-finite grads propagate, as with torch's clipping
        return factors, flags

    # ---------------------------------------------------------------------------------------- tensor lists
    def _group_buckets(self, group: dict):
        """[(bucket, grads)] for a param group; cached across steps while nothing changed."""
        params = group["params"]
        grads = [p.grad for p in params]
        plans = self.__dict__.setdefault("_fastlit_plans", {})
        plan = plans.get(id(group))
        mask = None  # (`None in grads` would call Tensor.__eq__ on every grad: slow)
        if any(g is None for g in grads):
            mask = tuple(g is not None for g in grads)
        if (plan is None or plan.params is not params or plan.n != len(params) or plan.state is not self.state
                or plan.mask != mask):
            plan = self._build_plan(group, grads, mask)
            plans[id(group)] = plan
        if mask is None and len(plan.buckets) == 1:
            return [(plan.buckets[0], grads)]
        return [(b, [grads[i] for i in b.index]) for b in plan.buckets]

    def _build_plan(self, group: dict, grads: List[Optional[Tensor]], mask) -> _GroupPlan:
        buckets: Dict[Any, _Bucket] = {}
        for i, (p, g) in enumerate(zip(group["params"], grads)):
            if g is None:
                continue
            if g.is_sparse:
                raise RuntimeError(f"{type(self).__name__} does not support sparse gradients; use torch.optim.")
            first = self._init_state(p, group)  # (touches self.state[p] only where torch does)
            key = (p.device, first)
            if key not in buckets:
                buckets[key] = _Bucket(group, p.device, [], [])
                buckets[key].first = first
            buckets[key].index.append(i)
            buckets[key].params.append(p)
        plan = _GroupPlan()
        plan.params, plan.n, plan.state, plan.mask = group["params"], len(group["params"]), self.state, mask
        plan.buckets = list(buckets.values())
        for b in plan.buckets:
            self._bucket_lists(b)
        return plan

    def _state_dtype(self, p: Tensor) -> torch.dtype:
        """fp32 state for low-precision params (with the extension; torch's fused fallback needs p.dtype)."""
        return torch.float32 if (_ext.EXT_AVAILABLE and p.dtype in _LOW_PRECISION) else p.dtype

    @staticmethod
    def _step_device(p: Tensor) -> torch.device:
        # The CUDA kernels read step counts on the device (like torch's fused Adam); the CPU keeps them on the CPU.
        return p.device if p.device.type != "cpu" else torch.device("cpu")

    # ---------------------------------------------------------------------------------------- checkpoints
    def load_state_dict(self, state_dict: dict) -> None:
        """Loads torch.optim's layout (from this class or from torch.optim.Adam/AdamW/SGD) and adapts dtypes."""
        super().load_state_dict(state_dict)  # type: ignore[misc]
        self._adopt_state()

    def _adopt_state(self) -> None:
        """Brings existing state to this optimizer's policy: fp32 state tensors, float32 steps on the right device."""
        self.__dict__.pop("_fastlit_plans", None)
        for group in self.param_groups:  # type: ignore[attr-defined]
            for p in group["params"]:
                state = self.state.get(p)  # type: ignore[attr-defined]
                if not state:
                    continue
                for key, value in list(state.items()):
                    if key == "step":
                        step = value if torch.is_tensor(value) else torch.tensor(float(value))
                        state[key] = step.to(dtype=torch.float32, device=self._step_device(p))
                    elif torch.is_tensor(value) and value.is_floating_point() and value.shape == p.shape:
                        state[key] = value.to(dtype=self._state_dtype(p), device=p.device)

    def add_param_group(self, param_group: dict) -> None:
        super().add_param_group(param_group)  # type: ignore[misc]
        self.__dict__.pop("_fastlit_plans", None)

    # ------------------------------------------------------------------------------------------ fallback
    def _fallback_step(self) -> None:
        """Without fastlit._C: torch's fused implementation (or foreach where fused is unavailable)."""
        grad_scale = getattr(self, "grad_scale", None)
        if self.max_grad_norm:
            params = [p for g in self.param_groups for p in g["params"] if p.grad is not None]
            if grad_scale is not None:  # clip the unscaled grads, then update without the scale
                found = getattr(self, "found_inf", None)
                found = found if found is not None else torch.zeros((), device=grad_scale.device)
                inv = grad_scale.double().reciprocal().float()
                torch._amp_foreach_non_finite_check_and_unscale_([p.grad for p in params], found, inv)
                self.grad_scale = None
            self.last_grad_norm = torch.nn.utils.clip_grad_norm_(params, self.max_grad_norm)
        saved = [(g.get("fused"), g.get("foreach")) for g in self.param_groups]
        try:
            for g in self.param_groups:  # torch's fused step takes every dtype fastlit's ops take
                fused_ok = all(p.device.type in ("cpu", "cuda") and p.dtype in ops.SUPPORTED_DTYPES
                               for p in g["params"])
                g["fused"], g["foreach"] = (True, None) if fused_ok else (None, True)
            _TORCH_STEP[type(self)._torch_base](self)
        finally:
            for g, (fused, foreach) in zip(self.param_groups, saved):
                g["fused"], g["foreach"] = fused, foreach
            if grad_scale is not None:
                self.grad_scale = grad_scale


def _on(t: Optional[Tensor], device: torch.device) -> Optional[Tensor]:
    return t if t is None or t.device == device else t.to(device, non_blocking=True)


def _plain_step(self, closure=None):
    return self._fused_step(closure)


# torch's profiling + hook wrapper around our step, used only when something observes it.
_PROFILED_STEP = Optimizer.profile_hook_step(_plain_step)


class _TorchStep(dict):
    """The undecorated step() of torch's optimizer classes (torch patches them with its profiling hook)."""

    def __missing__(self, cls):
        fn = cls.step
        if getattr(fn, "hooked", False) and hasattr(fn, "__wrapped__"):  # drop the profiling wrapper only
            fn = fn.__wrapped__
        self[cls] = fn
        return fn


_TORCH_STEP = _TorchStep()
