"""Shared helpers for the optimizer tests: a small model, deterministic gradients, lockstep training."""
import os
import subprocess
import sys

import torch

# Steps of amp_run whose gradients get a non-finite entry.
INF_STEPS = {2: float("inf"), 5: float("nan"), 6: float("-inf")}


def make_params(dtype=torch.float32, seed=0, shapes=((32, 16), (32,), (8, 32), (8,), (5, 3, 2))):
    g = torch.Generator().manual_seed(seed)
    return [torch.nn.Parameter(torch.randn(s, generator=g).to(dtype)) for s in shapes]


def clone_params(params):
    return [torch.nn.Parameter(p.detach().clone()) for p in params]


def set_grads(params, step, scale=1.0, skip=()):
    g = torch.Generator().manual_seed(1000 + step)
    for i, p in enumerate(params):
        p.grad = None if i in skip else (torch.randn(p.shape, generator=g) * scale).to(p.dtype)


def assert_params_close(actual, expected, tol=1e-6):
    for i, (a, e) in enumerate(zip(actual, expected)):
        a, e = a.detach().double(), e.detach().double()
        scale = max(e.abs().max().item(), 1e-30)
        err = (a - e).abs().max().item()
        assert err <= tol * scale, f"param {i}: error {err:.3g} > {tol:g} x {scale:.3g}"


def lockstep(opt_a, params_a, opt_b, params_b, steps, **grad_kw):
    for k in range(steps):
        set_grads(params_a, k, **grad_kw)
        set_grads(params_b, k, **grad_kw)
        opt_a.step()
        opt_b.step()


def amp_run(opt, params, scaler, clip=None, unscale=False, steps=12):
    """A GradScaler loop with non-finite grads injected at INF_STEPS; returns the scale after every step."""
    scales = []
    for k in range(steps):
        scaler.scale(torch.ones(()))  # what scaling a loss does (and the scaler's lazy init)
        set_grads(params, k, scale=scaler.get_scale())
        if k in INF_STEPS:
            params[2].grad[1, 3] = INF_STEPS[k]
        if unscale or clip:
            scaler.unscale_(opt)
        if clip:
            torch.nn.utils.clip_grad_norm_(params, clip)
        scaler.step(opt)
        scaler.update()
        scales.append(scaler.get_scale())
    return scales


def run_python(code, **env):
    """Runs `code` in a fresh interpreter with extra environment variables; returns the CompletedProcess."""
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **env})
