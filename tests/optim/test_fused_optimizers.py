"""FusedAdam / FusedAdamW / FusedSGD against torch.optim: results, state_dict layout, schedulers, AMP, hooks."""
import copy
import itertools
import warnings

import pytest
import torch

from fastlit.optim import FusedAdam, FusedAdamW, FusedSGD

from .helpers import (INF_STEPS, amp_run, assert_params_close, clone_params, lockstep, make_params, run_python,
                      set_grads)

ADAM_OPTS = [dict(amsgrad=a, maximize=m, weight_decay=wd) for a, m, wd in itertools.product([0, 1], [0, 1], [0, .1])]
SGD_OPTS = [
    dict(momentum=0.0), dict(momentum=0.9), dict(momentum=0.9, dampening=0.3, weight_decay=0.01),
    dict(momentum=0.9, nesterov=True, maximize=True), dict(momentum=0.5, weight_decay=0.1, nesterov=True),
]
PAIRS = [(FusedAdam, torch.optim.Adam, o) for o in ADAM_OPTS] + [(FusedAdamW, torch.optim.AdamW, o) for o in
                                                                  ADAM_OPTS] + [(FusedSGD, torch.optim.SGD, o)
                                                                                for o in SGD_OPTS]


def _id(pair):
    fused, _, opts = pair
    return fused.__name__ + "-" + "-".join(f"{k}={v}" for k, v in opts.items())


@pytest.mark.parametrize("pair", PAIRS, ids=_id)
def test_matches_torch_over_steps(pair):
    fused_cls, torch_cls, opts = pair
    pa = make_params()
    pb = clone_params(pa)
    lr = 0.05 if fused_cls is FusedSGD else 1e-2
    lockstep(fused_cls(pa, lr=lr, **opts), pa, torch_cls(pb, lr=lr, **opts), pb, steps=12)
    assert_params_close(pa, pb)


def test_param_groups_and_params_without_grads():
    pa, pb = make_params(), None
    pb = clone_params(pa)
    groups = lambda ps: [{"params": ps[:2], "lr": 1e-2}, {"params": ps[2:], "lr": 3e-3, "weight_decay": 0.1}]  # noqa
    fa, fb = FusedAdamW(groups(pa)), torch.optim.AdamW(groups(pb))
    for k in range(10):
        skip = (1, 4) if k % 3 == 0 else (4,)  # some steps without grads, one param never has one
        set_grads(pa, k, skip=skip)
        set_grads(pb, k, skip=skip)
        fa.step()
        fb.step()
    assert_params_close(pa, pb)
    assert 4 not in fa.state_dict()["state"] and 4 not in fb.state_dict()["state"]


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_low_precision_params_keep_fp32_state(dtype):
    pa = make_params(dtype)
    pb = [torch.nn.Parameter(p.detach().double()) for p in pa]
    pc = clone_params(pa)
    eps = 1e-4 if dtype == torch.float16 else 1e-8
    fa, fb, fc = FusedAdam(pa, lr=1e-3, eps=eps), torch.optim.Adam(pb, lr=1e-3, eps=eps), torch.optim.Adam(
        pc, lr=1e-3, eps=eps)
    for k in range(20):
        for ps in (pa, pb, pc):
            set_grads(ps, k)
            if ps is pb:
                for p, q in zip(pb, pa):
                    p.grad = q.grad.double()
        fa.step(), fb.step(), fc.step()
    assert fa.state[pa[0]]["exp_avg"].dtype == torch.float32 and fa.state[pa[0]]["step"].dtype == torch.float32
    ours = max((a.double() - b).abs().max().item() for a, b in zip(pa, pb))
    theirs = max((c.double() - b).abs().max().item() for c, b in zip(pc, pb))
    assert ours <= 2 * theirs


@pytest.mark.parametrize("fused_cls, torch_cls, opts", [
    (FusedAdam, torch.optim.Adam, dict(amsgrad=True)), (FusedAdamW, torch.optim.AdamW, {}),
    (FusedSGD, torch.optim.SGD, dict(momentum=0.9))])
def test_state_dict_round_trips_with_torch(fused_cls, torch_cls, opts):
    pa = make_params()
    pb = clone_params(pa)
    fa, tb = fused_cls(pa, lr=1e-2, **opts), torch_cls(pb, lr=1e-2, **opts)
    lockstep(fa, pa, tb, pb, steps=3)
    sa, sb = fa.state_dict(), tb.state_dict()
    assert sa["param_groups"] == sb["param_groups"]
    assert sa["state"].keys() == sb["state"].keys()
    for k in sb["state"]:
        assert list(sa["state"][k]) == list(sb["state"][k])  # same keys, same order
        for key, value in sb["state"][k].items():
            assert sa["state"][k][key].dtype == value.dtype and sa["state"][k][key].shape == value.shape
    # fused -> torch and torch -> fused, then continue in lockstep with an uninterrupted torch run
    pc, pd = clone_params(pa), clone_params(pa)
    tc, fd = torch_cls(pc, lr=1e-2, **opts), fused_cls(pd, lr=1e-2, **opts)
    tc.load_state_dict(copy.deepcopy(sa))  # (load_state_dict keeps the given tensors, like a torch.load would not)
    fd.load_state_dict(copy.deepcopy(sb))
    for k in range(3, 8):
        for ps in (pb, pc, pd):
            set_grads(ps, k)
        tb.step(), tc.step(), fd.step()
    assert_params_close(pc, pb)
    assert_params_close(pd, pb)


def test_lr_scheduler_drives_fused_optimizer():
    pa = make_params()
    pb = clone_params(pa)
    fa, tb = FusedAdam(pa, lr=0.1), torch.optim.Adam(pb, lr=0.1)
    sa, sb = torch.optim.lr_scheduler.StepLR(fa, 2, 0.5), torch.optim.lr_scheduler.StepLR(tb, 2, 0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "lr_scheduler.step() before optimizer.step()" warning
        for k in range(7):
            set_grads(pa, k), set_grads(pb, k)
            fa.step(), tb.step()
            sa.step(), sb.step()
    assert fa.param_groups[0]["lr"] == tb.param_groups[0]["lr"] == 0.1 * 0.5 ** 3
    assert_params_close(pa, pb)


@pytest.mark.parametrize("fused_cls, torch_cls", [(FusedAdamW, torch.optim.AdamW), (FusedSGD, torch.optim.SGD)])
def test_max_grad_norm_equals_clip_then_step(fused_cls, torch_cls):
    pa = make_params()
    pb = clone_params(pa)
    kw = dict(lr=1e-2, momentum=0.9) if fused_cls is FusedSGD else dict(lr=1e-2)
    fa, tb = fused_cls(pa, max_grad_norm=0.5, **kw), torch_cls(pb, **kw)
    for k in range(6):
        set_grads(pa, k, scale=3.0), set_grads(pb, k, scale=3.0)
        fa.step()
        norm = torch.nn.utils.clip_grad_norm_(pb, 0.5)
        tb.step()
        torch.testing.assert_close(fa.last_grad_norm, norm, rtol=1e-6, atol=0)
    assert_params_close(pa, pb)


@pytest.mark.parametrize("unscale_first", [False, True])
def test_torch_grad_scaler_skips_and_backs_off(unscale_first):
    pa = make_params()
    pb = clone_params(pa)
    fa, tb = FusedAdam(pa, lr=1e-2), torch.optim.Adam(pb, lr=1e-2, fused=True)
    mk = lambda: torch.amp.GradScaler("cpu", init_scale=2.0 ** 10, growth_interval=2)  # noqa: E731
    sa, sb = mk(), mk()
    assert amp_run(fa, pa, sa, unscale=unscale_first) == amp_run(tb, pb, sb, unscale=unscale_first)
    assert_params_close(pa, pb)
    assert fa.state[pa[0]]["step"].item() == 12 - len(INF_STEPS)  # skipped steps do not count


def test_torch_grad_scaler_with_max_grad_norm_folds_unscale_and_clip():
    pa = make_params()
    pb = clone_params(pa)
    fa, tb = FusedAdam(pa, lr=1e-2, max_grad_norm=1.0), torch.optim.Adam(pb, lr=1e-2)
    mk = lambda: torch.amp.GradScaler("cpu", init_scale=2.0 ** 8, growth_interval=3)  # noqa: E731
    sa, sb = mk(), mk()
    assert amp_run(fa, pa, sa) == amp_run(tb, pb, sb, clip=1.0)
    assert_params_close(pa, pb)


def test_step_hooks_profiler_and_closure():
    params = make_params()
    opt = FusedSGD(params, lr=0.1)
    calls = []
    opt.register_step_pre_hook(lambda o, a, k: calls.append("pre"))
    opt.register_step_post_hook(lambda o, a, k: calls.append("post"))
    set_grads(params, 0)
    assert opt.step(lambda: torch.tensor(3.0)).item() == 3.0
    assert calls == ["pre", "post"]
    with torch.profiler.profile() as prof:
        opt.step()
    assert any("Optimizer.step#FusedSGD.step" in e.name for e in prof.events())
    opt.zero_grad()
    assert all(p.grad is None for p in params)
    set_grads(params, 1)
    opt.zero_grad(set_to_none=False)
    assert all(p.grad is not None and not p.grad.any() for p in params)


def test_unsupported_flags_are_rejected():
    with pytest.raises(ValueError, match="capturable"):
        FusedAdam(make_params(), capturable=True)
    with pytest.raises(ValueError, match="differentiable"):
        FusedSGD(make_params(), lr=0.1, differentiable=True)
    with pytest.raises(ValueError):  # torch's own validation still applies
        FusedAdam(make_params(), lr=-1.0)


def test_fallback_without_extension_warns_and_matches_torch():
    code = (
        "import warnings, torch\n"
        "from fastlit.optim import FusedAdam\n"
        "ps=[torch.nn.Parameter(torch.randn(7, 3)) for _ in range(2)]\n"
        "qs=[torch.nn.Parameter(p.detach().clone()) for p in ps]\n"
        "a, b = FusedAdam(ps, lr=1e-2, max_grad_norm=0.5), torch.optim.Adam(qs, lr=1e-2)\n"
        "with warnings.catch_warnings(record=True) as w:\n"
        "    warnings.simplefilter('always')\n"
        "    for k in range(5):\n"
        "        torch.manual_seed(k); [setattr(p, 'grad', torch.randn_like(p)) for p in ps]\n"
        "        torch.manual_seed(k); [setattr(q, 'grad', torch.randn_like(q)) for q in qs]\n"
        "        a.step(); torch.nn.utils.clip_grad_norm_(qs, 0.5); b.step()\n"
        "assert sum('fastlit._C' in str(x.message) for x in w) == 1, [str(x.message) for x in w]\n"
        "assert all(torch.allclose(p, q, rtol=1e-6, atol=1e-7) for p, q in zip(ps, qs))\n"
        "assert a.param_groups[0]['fused'] is None\n"
    )
    out = run_python(code, FASTLIT_DISABLE_EXT="1")
    assert out.returncode == 0, out.stderr[-3000:]
