"""Shared helpers for the optimizer tests: a small model, deterministic gradients, lockstep training."""
import torch


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
