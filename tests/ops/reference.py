"""Reference implementations and comparison helpers for the op tests (torch itself is the reference)."""
import torch


def assert_close_scaled(actual, expected, tol, what=""):
    """|actual - expected| <= tol * max|expected| elementwise: relative error on the tensor's own scale.

    Elementwise relative error is meaningless for entries that cross zero (torch's fused and for-loop Adam
    differ by 1e-5 relative there), so the tolerance is relative to the tensor's magnitude.
    """
    assert actual.shape == expected.shape and actual.dtype == expected.dtype, (what, actual.shape, expected.shape)
    a, e = actual.double(), expected.double()
    scale = e.abs().max().item() if e.numel() else 0.0
    err = (a - e).abs().max().item() if e.numel() else 0.0
    assert err <= tol * max(scale, 1e-30), f"{what}: max error {err:.3g} > {tol:g} x scale {scale:.3g}"


def run_torch_adam(params, grad_steps, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False,
                   maximize=False, decoupled=False):
    """torch.optim.Adam / AdamW (default, for-loop implementation) on clones; returns (params, per-param state)."""
    ps = [p.clone().requires_grad_() for p in params]
    cls = torch.optim.AdamW if decoupled else torch.optim.Adam
    opt = cls(ps, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad, maximize=maximize)
    for grads in grad_steps:
        for p, g in zip(ps, grads):
            p.grad = g.clone()
        opt.step()
    return [p.detach() for p in ps], [opt.state[p] for p in ps]


def run_torch_sgd(params, grad_steps, **kw):
    ps = [p.clone().requires_grad_() for p in params]
    opt = torch.optim.SGD(ps, **kw)
    for grads in grad_steps:
        for p, g in zip(ps, grads):
            p.grad = g.clone()
        opt.step()
    return [p.detach() for p in ps], [opt.state[p] for p in ps]


def opcheck(op, args, kwargs=None):
    """torch.library.opcheck, failing the test on any of its checks."""
    results = torch.library.opcheck(op, args, kwargs or {})
    bad = {k: v for k, v in results.items() if v != "SUCCESS"}
    assert not bad, bad
