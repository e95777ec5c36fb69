"""fastlit.amp.GradScaler against torch.amp.GradScaler: same scales, same params, no extra check pass."""
import pytest
import torch

from fastlit.amp import GradScaler
from fastlit.optim import FusedAdam, FusedSGD

from .helpers import amp_run, assert_params_close, clone_params, make_params, set_grads

def make_scaler(cls):
    return cls("cpu", init_scale=2.0 ** 12, growth_factor=2.0, backoff_factor=0.5, growth_interval=3)


@pytest.mark.parametrize("make_opt", [lambda ps: FusedAdam(ps, lr=1e-2, weight_decay=0.1),
                                      lambda ps: FusedSGD(ps, lr=0.1, momentum=0.9)])
@pytest.mark.parametrize("unscale", [False, True])
def test_matches_torch_scaler_with_injected_nonfinite_grads(make_opt, unscale, monkeypatch):
    pa = make_params()
    pb = clone_params(pa)
    oa, ob = make_opt(pa), make_opt(pb)
    ref_scales = amp_run(ob, pb, make_scaler(torch.amp.GradScaler), unscale=unscale)
    checks = []
    real = torch._amp_foreach_non_finite_check_and_unscale_
    monkeypatch.setattr(torch, "_amp_foreach_non_finite_check_and_unscale_",
                        lambda *a: (checks.append(1), real(*a))[1])
    scales = amp_run(oa, pa, make_scaler(GradScaler), unscale=unscale)
    assert scales == ref_scales
    assert len(set(scales)) > 2  # the sequence both backed off and grew
    assert_params_close(pa, pb)
    assert (len(checks) > 0) == unscale  # without unscale_(), no separate unscale / check pass ran


def test_max_grad_norm_with_scaler_equals_unscale_clip_step():
    pa = make_params()
    pb = clone_params(pa)
    oa, ob = FusedAdam(pa, lr=1e-2, max_grad_norm=0.5), torch.optim.Adam(pb, lr=1e-2)
    assert amp_run(oa, pa, make_scaler(GradScaler)) == amp_run(ob, pb, make_scaler(torch.amp.GradScaler), clip=0.5)
    assert_params_close(pa, pb)


def test_plain_torch_optimizer_and_state_dict_are_torchs():
    pa = make_params()
    pb = clone_params(pa)
    sa, sb = make_scaler(GradScaler), make_scaler(torch.amp.GradScaler)
    assert amp_run(torch.optim.Adam(pa, lr=1e-2), pa, sa) == amp_run(torch.optim.Adam(pb, lr=1e-2), pb, sb)
    assert_params_close(pa, pb)
    assert sa.state_dict() == sb.state_dict()
    fresh = make_scaler(GradScaler)
    fresh.load_state_dict(sb.state_dict())
    assert fresh.get_scale() == sb.get_scale()


def test_step_twice_without_update_raises():
    params = make_params()
    opt, scaler = FusedSGD(params, lr=0.1), make_scaler(GradScaler)
    scaler.scale(torch.ones(()))
    set_grads(params, 0)
    scaler.step(opt)
    with pytest.raises(RuntimeError, match="already been called"):
        scaler.step(opt)
