"""fastlit.optim.to_fused: in-place switch of torch.optim.Adam / AdamW / SGD to the fused step."""
import warnings

import pytest
import torch

from fastlit.optim import to_fused
from fastlit.optim._base import FusedOptimizerMixin

from .helpers import assert_params_close, clone_params, make_params, run_python, set_grads

CASES = [
    (torch.optim.Adam, dict(lr=1e-2, amsgrad=True)),
    (torch.optim.AdamW, dict(lr=1e-2, weight_decay=0.1)),
    (torch.optim.SGD, dict(lr=0.05, momentum=0.9, nesterov=True)),
    (torch.optim.SGD, dict(lr=0.05)),
]


@pytest.mark.parametrize("cls, kw", CASES, ids=lambda x: getattr(x, "__name__", str(x)))
def test_converts_mid_training_in_place(cls, kw):
    pa = make_params()
    pb = clone_params(pa)
    opt, ref = cls(pa, **kw), cls(pb, **kw)
    for k in range(3):  # some torch steps first: existing state must carry over
        set_grads(pa, k), set_grads(pb, k)
        opt.step(), ref.step()
    keys_before = [list(s) for s in opt.state_dict()["state"].values()]
    fused, reason = to_fused(opt)
    assert fused is opt and reason == ""
    assert isinstance(opt, FusedOptimizerMixin) and isinstance(opt, cls)
    assert type(opt).__name__ == cls.__name__  # e.g. Lightning's "lr-Adam" keys stay the same
    for k in range(3, 12):
        set_grads(pa, k), set_grads(pb, k)
        opt.step(), ref.step()
    assert_params_close(pa, pb)
    assert [list(s) for s in opt.state_dict()["state"].values()] == keys_before
    assert opt.state_dict()["param_groups"] == ref.state_dict()["param_groups"]
    assert to_fused(opt) == (opt, "")  # idempotent


def test_scheduler_built_before_conversion_keeps_working():
    pa = make_params()
    pb = clone_params(pa)
    opt, ref = torch.optim.Adam(pa, lr=0.1), torch.optim.Adam(pb, lr=0.1)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    ref_sched = torch.optim.lr_scheduler.StepLR(ref, step_size=2, gamma=0.5)
    assert to_fused(opt)[0] is opt
    calls = []
    opt.register_step_post_hook(lambda *a: calls.append(1))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the scheduler must see the fused step being called
        for k in range(7):
            set_grads(pa, k), set_grads(pb, k)
            opt.step(), ref.step()
            sched.step(), ref_sched.step()
    assert len(calls) == 7  # the fused step ran (through the scheduler's wrapper), not torch's
    assert opt.param_groups[0]["lr"] == ref.param_groups[0]["lr"] == 0.1 * 0.5 ** 3
    assert_params_close(pa, pb)
    assert type(opt.state[pa[0]]["exp_avg"]) is torch.Tensor


def test_low_precision_state_is_upcast():
    params = make_params(torch.bfloat16)
    opt = torch.optim.Adam(params, lr=1e-3)
    set_grads(params, 0)
    opt.step()
    assert opt.state[params[0]]["exp_avg"].dtype == torch.bfloat16
    to_fused(opt)
    assert opt.state[params[0]]["exp_avg"].dtype == torch.float32
    set_grads(params, 1)
    opt.step()
    assert opt.state[params[0]]["step"].item() == 2


class MyAdam(torch.optim.Adam):
    pass


@pytest.mark.parametrize("make, reason", [
    (lambda ps: MyAdam(ps), "MyAdam subclasses torch.optim.Adam"),
    (lambda ps: torch.optim.RMSprop(ps), "is not torch.optim.Adam, AdamW or SGD"),
    (lambda ps: torch.optim.Adam(ps, differentiable=True), "differentiable=True"),
    (lambda ps: torch.optim.Adam(ps, lr=torch.tensor(0.01)), "'lr'] is a tensor"),
    (lambda ps: torch.optim.SGD([torch.nn.Parameter(torch.zeros(3, dtype=torch.float64))], lr=0.1),
     "dtype torch.float64"),
])
def test_unsupported_optimizers_are_left_alone(make, reason):
    opt = make(make_params())
    cls = type(opt)
    fused, why = to_fused(opt)
    assert fused is None and reason in why
    assert type(opt) is cls


def test_replaced_step_is_left_alone():
    opt = torch.optim.SGD(make_params(), lr=0.1)
    opt.step = lambda closure=None: None
    fused, why = to_fused(opt)
    assert fused is None and "optimizer.step was replaced" in why


def test_without_extension_nothing_is_converted():
    code = (
        "import torch\nfrom fastlit.optim import to_fused\n"
        "opt = torch.optim.Adam([torch.nn.Parameter(torch.zeros(3))])\n"
        "fused, why = to_fused(opt)\n"
        "assert fused is None and 'FASTLIT_DISABLE_EXT' in why, why\n"
        "assert type(opt) is torch.optim.Adam\n"
    )
    out = run_python(code, FASTLIT_DISABLE_EXT="1")
    assert out.returncode == 0, out.stderr[-3000:]
