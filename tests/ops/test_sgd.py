"""fastlit.ops.fused_sgd_ against torch.optim.SGD and torch's own fused kernel."""
import itertools
import math

import pytest
import torch

from fastlit import ops

from .reference import assert_close_scaled, opcheck, run_torch_sgd

SHAPES = [(64, 784), (64,), (3, 64), (3,), (17, 5, 3), (1000,)]
OPTIONS = [
    dict(momentum=m, dampening=d, nesterov=n, weight_decay=wd, maximize=mx)
    for m, d, n, wd, mx in itertools.product([0.0, 0.9], [0.0, 0.5], [False, True], [0.0, 0.1], [False, True])
    if not (n and (m == 0 or d != 0))  # torch's rule for nesterov
]


def make(shapes, dtype=torch.float32, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(s, generator=g).to(dtype) for s in shapes]


def run_fused(params, grad_steps, lr, momentum=0.0, buf_dtype=None, **kw):
    bufs = [torch.empty_like(p, dtype=buf_dtype or p.dtype) for p in params] if momentum else []
    for k, grads in enumerate(grad_steps):
        ops.fused_sgd_(params, [g.clone() for g in grads], bufs, lr=lr, momentum=momentum, is_first_step=k == 0,
                       **kw)
    return bufs


@pytest.mark.parametrize("opt", OPTIONS, ids=lambda o: "-".join(f"{k}={v}" for k, v in o.items()))
def test_fp32_matches_torch_optim(opt):
    params = make(SHAPES)
    grads = [make(SHAPES, seed=s) for s in range(1, 12)]
    ref, ref_state = run_torch_sgd(params, grads, lr=0.05, **opt)
    ours = [p.clone() for p in params]
    bufs = run_fused(ours, grads, lr=0.05, **opt)
    for i, (p, r) in enumerate(zip(ours, ref)):
        assert_close_scaled(p, r, 1e-6, f"param {i}")
        if opt["momentum"]:
            assert_close_scaled(bufs[i], ref_state[i]["momentum_buffer"], 1e-6, f"buffer {i}")


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_low_precision_error_at_most_twice_torch(dtype):
    shapes = [(256, 64), (4096,)]
    params = make(shapes, dtype)
    grads = [make(shapes, dtype, seed=s) for s in range(1, 21)]
    opt = dict(lr=1e-2, momentum=0.9, weight_decay=1e-3)
    exact, _ = run_torch_sgd([p.double() for p in params], [[g.double() for g in gs] for gs in grads], **opt)
    torch_low, _ = run_torch_sgd(params, grads, **opt)
    torch_err = max((t.double() - e).abs().max().item() for t, e in zip(torch_low, exact))
    for buf_dtype in (torch.float32, dtype):
        ours = [p.clone() for p in params]
        run_fused(ours, grads, buf_dtype=buf_dtype, **opt)
        our_err = max((o.double() - e).abs().max().item() for o, e in zip(ours, exact))
        assert our_err <= 2 * torch_err, (buf_dtype, our_err, torch_err)


def test_grad_scale_and_found_inf_match_torch_fused():
    params = make(SHAPES)
    theirs, ours = [p.clone() for p in params], [p.clone() for p in params]
    t_bufs, o_bufs = [torch.empty_like(p) for p in params], [torch.empty_like(p) for p in params]
    scale = torch.tensor(256.0)
    kw = dict(weight_decay=0.01, momentum=0.9, lr=0.1, dampening=0.0, nesterov=True, maximize=False)
    for k in range(4):
        grads = make(SHAPES, seed=10 + k)
        found = torch.tensor(1.0 if k == 2 else 0.0)
        t_grads, o_grads = [g * 256 for g in grads], [g * 256 for g in grads]
        torch._fused_sgd_(theirs, t_grads, t_bufs, **kw, is_first_step=k == 0, grad_scale=scale, found_inf=found)
        ops.fused_sgd_(ours, o_grads, o_bufs, **kw, is_first_step=k == 0, grad_scale=scale, found_inf=found)
        for a, b in zip(t_grads, o_grads):
            assert_close_scaled(b, a, 1e-7, "unscaled grad")
    for a, b in zip(theirs, ours):
        assert_close_scaled(b, a, 1e-6, "param")


def test_grad_factor_scales_update_without_touching_grads():
    params = make(SHAPES)
    (grads,) = [make(SHAPES, seed=3)]
    ref = [p.clone() for p in params]
    run_fused(ref, [[g * 0.5 for g in grads]], lr=0.1)
    ours = [p.clone() for p in params]
    kept = [g.clone() for g in grads]
    ops.fused_sgd_(ours, grads, [], lr=0.1, momentum=0.0, weight_decay=0.0, grad_factor=torch.tensor(0.5))
    for a, b in zip(ref, ours):
        assert_close_scaled(b, a, 1e-6, "param")
    assert all(torch.equal(a, b) for a, b in zip(grads, kept))


@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_empty_tensors_among_others_match_torch(momentum):
    # Empty tensors in any position: they stay empty, and every tensor after them is still updated exactly as
    # torch.optim.SGD does (momentum buffers included), over several steps.
    shapes = [(0,), (5,), (2, 0), (3, 4), (0, 3), (7,)]
    params = make(shapes)
    grads = [make(shapes, seed=s) for s in (1, 2, 3)]
    opt = dict(momentum=momentum, weight_decay=0.01, nesterov=momentum > 0)
    ref, ref_state = run_torch_sgd(params, grads, lr=0.1, **opt)
    ours = [p.clone() for p in params]
    bufs = run_fused(ours, grads, lr=0.1, **opt)
    for i, (p, r) in enumerate(zip(ours, ref)):
        assert p.shape == shapes[i]
        assert_close_scaled(p, r, 1e-6, f"param {i}")
        if momentum:
            assert bufs[i].shape == shapes[i]
            assert_close_scaled(bufs[i], ref_state[i]["momentum_buffer"], 1e-6, f"buffer {i}")
    assert all(not torch.equal(ours[i], params[i]) for i in (1, 3, 5))
    ops.fused_sgd_([], [], [], lr=0.1, momentum=0.9, weight_decay=0.0)  # an empty call is a no-op, not an error


@pytest.mark.parametrize(
    "opt",
    [dict(momentum=0.0), dict(momentum=0.9, weight_decay=0.1), dict(momentum=0.9, nesterov=True, maximize=True),
     dict(momentum=0.9, dampening=0.5)],
    ids=lambda o: "-".join(f"{k}={v}" for k, v in o.items()),
)
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_nonfinite_grads_propagate_like_torch(opt, dtype):
    # inf / -inf / nan in a gradient reach the parameter (and through the momentum buffer, the later steps)
    # exactly where torch puts them; no value is silently dropped or clamped. Finite elements stay finite.
    shapes = [(40,), (7, 3), (129,)]  # the last one spans full vector blocks and a tail
    params = make(shapes, dtype)
    grads = [make(shapes, dtype, seed=s) for s in (1, 2, 3)]
    grads[0][0][3], grads[0][0][7], grads[0][0][20] = math.inf, -math.inf, math.nan
    grads[0][1][2, 1] = math.nan
    grads[1][2][128] = math.inf  # the tail of the last tensor, in a later step
    ref, ref_state = run_torch_sgd(params, grads, lr=0.1, **opt)
    ours = [p.clone() for p in params]
    bufs = run_fused(ours, grads, lr=0.1, buf_dtype=dtype, **opt)
    for i, (p, r) in enumerate(zip(ours, ref)):
        assert torch.equal(p.isnan(), r.isnan()) and torch.equal(p.isposinf(), r.isposinf()), f"param {i}"
        assert torch.equal(p.isneginf(), r.isneginf()), f"param {i}"
        fin = r.isfinite()
        assert_close_scaled(p[fin], r[fin], 1e-6 if dtype == torch.float32 else 1e-2, f"param {i}")
        if opt["momentum"]:
            b = ref_state[i]["momentum_buffer"]
            assert torch.equal(bufs[i].isnan(), b.isnan()) and torch.equal(bufs[i].isinf(), b.isinf()), f"buffer {i}"
    assert ours[0].isnan().any() and not ours[2][:128].isnan().any()  # the non-finite values did arrive


@pytest.mark.parametrize("buf_dtype", [torch.float32, torch.bfloat16])
def test_first_step_ignores_what_the_momentum_buffers_held(buf_dtype):
    # torch starts each buffer as a copy of the gradient; fastlit's come from torch.empty_like and may hold any
    # bits, inf and nan included: the first step must not read them.
    shapes = [(64,), (5, 3), (200,)]
    params = make(shapes, torch.bfloat16 if buf_dtype == torch.bfloat16 else torch.float32)
    grads = [make(shapes, params[0].dtype, seed=1)]
    opt = dict(momentum=0.9, dampening=0.3, weight_decay=0.1)
    ref, ref_state = run_torch_sgd(params, grads, lr=0.1, **opt)
    ours = [p.clone() for p in params]
    bufs = [torch.full_like(p, fill, dtype=buf_dtype) for p, fill in zip(params, (math.nan, math.inf, -math.inf))]
    ops.fused_sgd_(ours, [g.clone() for g in grads[0]], bufs, lr=0.1, is_first_step=True, **opt)
    tol = 1e-6 if buf_dtype == torch.float32 else 1e-2
    for i, (p, r) in enumerate(zip(ours, ref)):
        assert p.isfinite().all(), f"param {i}"
        assert_close_scaled(p, r, tol, f"param {i}")
        assert_close_scaled(bufs[i].float(), ref_state[i]["momentum_buffer"].float(), tol, f"buffer {i}")


def test_bad_inputs():
    p, g = [torch.randn(3)], [torch.randn(3)]
    with pytest.raises(RuntimeError, match="needs one momentum buffer per parameter"):
        ops.fused_sgd_(p, g, [], lr=0.1, momentum=0.9, weight_decay=0.0)
    with pytest.raises(RuntimeError, match="nesterov momentum requires"):
        ops.fused_sgd_(p, g, [torch.zeros(3)], lr=0.1, momentum=0.9, weight_decay=0.0, dampening=0.1, nesterov=True)
    with pytest.raises(RuntimeError, match="gradients must match"):
        ops.fused_sgd_(p, [g[0].half()], [], lr=0.1, momentum=0.0, weight_decay=0.0)


def test_opcheck():
    params = [torch.randn(5, 3), torch.randn(7).bfloat16()]
    grads = [torch.randn_like(p) for p in params]
    bufs = [torch.zeros_like(p, dtype=torch.float32) for p in params]
    kwargs = dict(weight_decay=0.01, momentum=0.9, lr=0.1, dampening=0.0, nesterov=True, maximize=True,
                  is_first_step=False, grad_scale=torch.tensor(2.0), found_inf=torch.tensor(0.0),
                  grad_factor=torch.tensor(0.5))
    opcheck(torch.ops.fastlit.fused_sgd_.default, (params, grads, bufs), kwargs)
