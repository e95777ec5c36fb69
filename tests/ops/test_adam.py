"""fastlit.ops.fused_adam_ against torch.optim.Adam / AdamW and torch's own fused kernel."""
import itertools

import pytest
import torch

from fastlit import ops

from .reference import assert_close_scaled, opcheck, run_torch_adam

SHAPES = [(64, 784), (64,), (3, 64), (3,), (1, 1), (17, 5, 3), (1000,), (33,)]
OPTIONS = [
    dict(amsgrad=a, maximize=m, weight_decay=wd, decoupled=d)
    for a, m, wd, d in itertools.product([False, True], [False, True], [0.0, 0.1], [False, True])
]


def fused_state(params, state_dtype=None, amsgrad=False):
    like = lambda p: torch.zeros_like(p, dtype=state_dtype or p.dtype)  # noqa: E731
    return dict(exp_avgs=[like(p) for p in params], exp_avg_sqs=[like(p) for p in params],
                max_exp_avg_sqs=[like(p) for p in params] if amsgrad else [],
                state_steps=[torch.zeros(()) for _ in params])


def fused_step(params, grads, state, lr=1e-2, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False,
               maximize=False, decoupled=False, **kw):
    ops.fused_adam_(params, grads, state["exp_avgs"], state["exp_avg_sqs"], state["max_exp_avg_sqs"],
                    state["state_steps"], lr=lr, beta1=betas[0], beta2=betas[1], weight_decay=weight_decay, eps=eps,
                    amsgrad=amsgrad, maximize=maximize, decoupled_weight_decay=decoupled, **kw)


def make(shapes, dtype=torch.float32, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(s, generator=g).to(dtype) for s in shapes]


def grad_seq(shapes, steps, dtype=torch.float32, seed=1):
    return [make(shapes, dtype, seed + i) for i in range(steps)]


@pytest.mark.parametrize("opt", OPTIONS, ids=lambda o: "-".join(f"{k}={v}" for k, v in o.items()))
def test_fp32_matches_torch_optim(opt):
    params, grads = make(SHAPES), grad_seq(SHAPES, 12)
    ref_params, ref_state = run_torch_adam(params, grads, lr=1e-2, **opt)
    ours = [p.clone() for p in params]
    state = fused_state(ours, amsgrad=opt["amsgrad"])
    for gs in grads:
        fused_step(ours, [g.clone() for g in gs], state, **opt)
    for i, (p, r) in enumerate(zip(ours, ref_params)):
        assert_close_scaled(p, r, 1e-6, f"param {i}")
        assert_close_scaled(state["exp_avgs"][i], ref_state[i]["exp_avg"], 1e-6, f"exp_avg {i}")
        assert_close_scaled(state["exp_avg_sqs"][i], ref_state[i]["exp_avg_sq"], 1e-6, f"exp_avg_sq {i}")
        if opt["amsgrad"]:
            assert_close_scaled(state["max_exp_avg_sqs"][i], ref_state[i]["max_exp_avg_sq"], 1e-6, f"max {i}")
        assert state["state_steps"][i].item() == len(grads)


def test_hyperparameters_and_lerp_branch():
    # beta1 < 0.5 takes torch's other lerp formula; unusual betas / eps / lr must all be honoured.
    params, grads = make(SHAPES[:4]), grad_seq(SHAPES[:4], 10)
    for betas, eps, lr in [((0.3, 0.9), 1e-3, 0.5), ((0.0, 0.5), 1e-6, 1e-4), ((0.99, 0.9999), 1e-8, 3e-3)]:
        ref, _ = run_torch_adam(params, grads, lr=lr, betas=betas, eps=eps)
        ours = [p.clone() for p in params]
        state = fused_state(ours)
        for gs in grads:
            fused_step(ours, [g.clone() for g in gs], state, lr=lr, betas=betas, eps=eps)
        for p, r in zip(ours, ref):
            assert_close_scaled(p, r, 1e-6, f"betas={betas}")


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("decoupled", [False, True])
def test_low_precision_error_at_most_twice_torch(dtype, decoupled):
    shapes = [(256, 64), (4096,)]
    params = [p * 0.1 for p in make(shapes, dtype)]
    grads = grad_seq(shapes, 20, dtype)
    # eps=1e-8 underflows to 0 in torch's fp16 math (0/0 = nan); 1e-4 is the usual fp16 choice.
    opt = dict(lr=1e-3, weight_decay=0.01, decoupled=decoupled, eps=1e-4 if dtype == torch.float16 else 1e-8)
    exact, _ = run_torch_adam([p.double() for p in params], [[g.double() for g in gs] for gs in grads], **opt)
    torch_low, _ = run_torch_adam(params, grads, **opt)
    torch_err = max((t.double() - e).abs().max().item() for t, e in zip(torch_low, exact))
    assert 0 < torch_err < float("inf"), torch_err
    for state_dtype in (torch.float32, dtype):  # fp32 state (fastlit's optimizers) and torch-style state
        ours = [p.clone() for p in params]
        state = fused_state(ours, state_dtype)
        for gs in grads:
            fused_step(ours, [g.clone() for g in gs], state, **opt)
        our_err = max((o.double() - e).abs().max().item() for o, e in zip(ours, exact))
        assert our_err <= 2 * torch_err, (state_dtype, our_err, torch_err)


def test_mixed_dtypes_in_one_call():
    ps = [torch.randn(100), torch.randn(50).bfloat16(), torch.randn(70).half()]
    gs = [torch.randn_like(p) for p in ps]
    state = fused_state(ps, torch.float32)
    separate = [p.clone() for p in ps]
    fused_step(ps, [g.clone() for g in gs], state)
    for i, p in enumerate(separate):
        st = fused_state([p], torch.float32)
        fused_step([p], [gs[i].clone()], st)
        assert torch.equal(p, ps[i])


def test_grad_scale_and_found_inf_match_torch_fused():
    params, grads = make(SHAPES), grad_seq(SHAPES, 3)
    theirs = [p.clone() for p in params]
    t_state = fused_state(theirs)
    ours = [p.clone() for p in params]
    state = fused_state(ours)
    scale = torch.tensor(1024.0)
    for k, gs in enumerate(grads):
        found = torch.tensor(1.0 if k == 1 else 0.0)
        t_grads = [g * 1024 for g in gs]
        o_grads = [g * 1024 for g in gs]
        if k != 1:  # torch's fused op expects the caller to manage steps
            torch._foreach_add_(t_state["state_steps"], 1)
        torch._fused_adam_(theirs, t_grads, t_state["exp_avgs"], t_state["exp_avg_sqs"], [], t_state["state_steps"],
                           lr=1e-2, beta1=0.9, beta2=0.999, weight_decay=0.0, eps=1e-8, amsgrad=False,
                           maximize=False, grad_scale=scale, found_inf=found)
        fused_step(ours, o_grads, state, grad_scale=scale, found_inf=found)
        for a, b in zip(t_grads, o_grads):  # both leave unscaled grads behind (none when skipped)
            assert_close_scaled(b, a, 1e-7, "unscaled grad")
    for a, b in zip(theirs, ours):
        assert_close_scaled(b, a, 1e-6, "param")
    assert [s.item() for s in state["state_steps"]] == [2.0] * len(SHAPES)


def test_grad_factor_scales_update_without_touching_grads():
    params, (gs,) = make(SHAPES), grad_seq(SHAPES, 1)
    ref = [p.clone() for p in params]
    fused_step(ref, [g * 0.25 for g in gs], fused_state(ref))
    ours = [p.clone() for p in params]
    grads = [g.clone() for g in gs]
    fused_step(ours, grads, fused_state(ours), grad_factor=torch.tensor(0.25))
    for a, b in zip(ref, ours):
        assert_close_scaled(b, a, 1e-6, "param")
    assert all(torch.equal(a, b) for a, b in zip(grads, gs))


@pytest.mark.parametrize("amsgrad", [False, True])
def test_empty_tensors_among_others_match_torch(amsgrad):
    # Empty tensors in any position stay empty and count their steps like torch.optim.Adam does, and every
    # tensor after them gets exactly torch's update and state, over several steps; a skipped step (found_inf)
    # changes nothing, the empty tensors' steps included.
    fused_step([], [], fused_state([]))  # an empty call is a no-op, not an error
    shapes = [(0,), (5,), (3, 0), (4, 2), (0, 7), (9,)]
    params, grads = make(shapes), grad_seq(shapes, 3)
    ref, ref_state = run_torch_adam(params, grads, lr=1e-2, amsgrad=amsgrad, weight_decay=0.1)
    ours = [p.clone() for p in params]
    state = fused_state(ours, amsgrad=amsgrad)
    for gs in grads:
        fused_step(ours, [g.clone() for g in gs], state, amsgrad=amsgrad, weight_decay=0.1)
    keys = [("exp_avgs", "exp_avg"), ("exp_avg_sqs", "exp_avg_sq")] + ([("max_exp_avg_sqs", "max_exp_avg_sq")]
                                                                     if amsgrad else [])
    for i, (p, r) in enumerate(zip(ours, ref)):
        assert p.shape == shapes[i]
        assert_close_scaled(p, r, 1e-6, f"param {i}")
        for ours_key, torch_key in keys:
            assert state[ours_key][i].shape == shapes[i]
            assert_close_scaled(state[ours_key][i], ref_state[i][torch_key], 1e-6, f"{ours_key} {i}")
        assert state["state_steps"][i].item() == ref_state[i]["step"].item() == 3.0
    assert all(not torch.equal(ours[i], params[i]) for i in (1, 3, 5))
    before = [p.clone() for p in ours]
    fused_step(ours, [g.clone() for g in grads[0]], state, amsgrad=amsgrad, found_inf=torch.tensor(1.0))
    assert all(torch.equal(a, b) for a, b in zip(before, ours))
    assert [s.item() for s in state["state_steps"]] == [3.0] * len(shapes)


def test_thousand_tiny_tensors():
    shapes = [(1 + (i * 7) % 13,) for i in range(1000)]
    params, grads = make(shapes), grad_seq(shapes, 10)
    ref, _ = run_torch_adam(params, grads, lr=1e-2, weight_decay=0.1, decoupled=True)
    ours = [p.clone() for p in params]
    state = fused_state(ours)
    for gs in grads:
        fused_step(ours, [g.clone() for g in gs], state, weight_decay=0.1, decoupled=True)
    assert_close_scaled(torch.cat(ours), torch.cat(ref), 1e-6, "params")


@pytest.mark.parametrize("threads", [1, 2])
def test_one_huge_tensor_parallel_chunks(threads):
    # Large enough to be split into chunks shared by the thread pool; chunk edges must not matter.
    prev = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        shapes = [(1 << 20) + 37, (300_001,)]
        params, grads = make(shapes), grad_seq(shapes, 2)
        theirs = [p.clone().requires_grad_() for p in params]
        opt = torch.optim.AdamW(theirs, lr=1e-2, fused=True)
        ours = [p.clone() for p in params]
        state = fused_state(ours)
        for gs in grads:
            for t, g in zip(theirs, gs):
                t.grad = g.clone()
            opt.step()
            fused_step(ours, [g.clone() for g in gs], state, weight_decay=0.01, decoupled=True)
        for a, b in zip(theirs, ours):
            assert_close_scaled(b, a.detach(), 1e-6, "param")
    finally:
        torch.set_num_threads(prev)


def test_nonfinite_grads_propagate_like_torch():
    params = make([(40,)])
    g = torch.randn(40)
    g[3], g[7], g[20] = float("inf"), float("-inf"), float("nan")
    ref, _ = run_torch_adam(params, [[g]], lr=1e-2)
    ours = [params[0].clone()]
    fused_step(ours, [g.clone()], fused_state(ours))
    torch.testing.assert_close(ours[0], ref[0], equal_nan=True, rtol=1e-6, atol=1e-6)


def test_channels_last_params_are_fine():
    p = torch.randn(2, 3, 4, 5).to(memory_format=torch.channels_last)
    g = torch.randn(2, 3, 4, 5).to(memory_format=torch.channels_last)
    ref, _ = run_torch_adam([p], [[g]], lr=1e-2)
    ours = [p.clone()]
    st = fused_state(ours)
    fused_step(ours, [g.clone()], st)
    assert_close_scaled(ours[0], ref[0], 1e-6, "param")


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda p, g, s: (p, [torch.randn(3, 4).t()], s), "not laid out like params"),
        (lambda p, g, s: (p, [g[0][:2]], s), "has shape"),
        (lambda p, g, s: (p, [g[0].double()], s), "gradients must match"),
        (lambda p, g, s: (p, [g[0], g[0]], s), "got 1 params but 2 grads"),
        (lambda p, g, s: (p, g, {**s, "state_steps": [torch.zeros((), dtype=torch.int64)]}), "state_steps\\[0\\]"),
        (lambda p, g, s: (p, g, {**s, "exp_avgs": [s["exp_avgs"][0].double()]}), "float32 or the param dtype"),
        (lambda p, g, s: ([p[0].int()], [g[0].int()], s), "float32, bfloat16 and float16"),
        (lambda p, g, s: (p, g, {**s, "max_exp_avg_sqs": []}), "amsgrad needs"),
    ],
)
def test_bad_inputs_raise_clear_errors(mutate, message):
    p, g = [torch.randn(4, 3)], [torch.randn(4, 3)]
    state = fused_state(p, amsgrad=True)
    p2, g2, s2 = mutate(p, g, state)
    with pytest.raises(RuntimeError, match=message):
        fused_step(p2, g2, s2, amsgrad=True)


def test_failed_check_leaves_state_untouched():
    p = [torch.randn(5), torch.randn(5)]
    before = [t.clone() for t in p]
    state = fused_state(p)
    with pytest.raises(RuntimeError):
        fused_step(p, [torch.randn(5), torch.randn(6)], state)
    assert all(torch.equal(a, b) for a, b in zip(p, before))
    assert [s.item() for s in state["state_steps"]] == [0.0, 0.0]


@pytest.mark.parametrize("amsgrad", [False, True])
def test_opcheck(amsgrad):
    params = [torch.randn(5, 3), torch.randn(7).bfloat16()]
    grads = [torch.randn_like(p) for p in params]
    state = fused_state(params, torch.float32, amsgrad=amsgrad)
    args = (params, grads, state["exp_avgs"], state["exp_avg_sqs"], state["max_exp_avg_sqs"], state["state_steps"])
    kwargs = dict(lr=1e-3, beta1=0.9, beta2=0.999, weight_decay=0.01, eps=1e-8, amsgrad=amsgrad, maximize=False,
                  decoupled_weight_decay=True, grad_scale=torch.tensor(2.0), found_inf=torch.tensor(0.0),
                  grad_factor=torch.tensor(0.5))
    opcheck(torch.ops.fastlit.fused_adam_.default, args, kwargs)
