"""fastlit.optim.clip_grad_norm_ / clip_grad_value_ against torch.nn.utils."""
import math

import pytest
import torch

import fastlit.optim as fo

from .helpers import assert_params_close, make_params, set_grads


def _pair(dtype=torch.float32, scale=3.0):
    pa, pb = make_params(dtype), make_params(dtype)
    set_grads(pa, 0, scale=scale), set_grads(pb, 0, scale=scale)
    return pa, pb


@pytest.mark.parametrize("norm_type", [2.0, math.inf, "inf"])
@pytest.mark.parametrize("max_norm", [0.5, 1e4])
def test_clip_grad_norm_matches_torch(norm_type, max_norm):
    pa, pb = _pair()
    ours = fo.clip_grad_norm_(pa, max_norm, norm_type)
    theirs = torch.nn.utils.clip_grad_norm_(pb, max_norm, norm_type)
    torch.testing.assert_close(ours, theirs, rtol=1e-6, atol=0)
    assert_params_close([p.grad for p in pa], [p.grad for p in pb])


def test_returned_norm_has_torchs_dtype_and_generators_work():
    pa, pb = _pair(torch.bfloat16)
    ours = fo.clip_grad_norm_((p for p in pa), 0.1)
    theirs = torch.nn.utils.clip_grad_norm_((p for p in pb), 0.1)
    assert ours.dtype == theirs.dtype == torch.bfloat16
    assert_params_close([p.grad for p in pa], [p.grad for p in pb], tol=1e-2)
    assert fo.clip_grad_norm_([torch.nn.Parameter(torch.zeros(2))], 1.0).item() == 0.0  # no grads


def test_other_norms_and_zero_max_norm_use_torch():
    for norm_type, max_norm in [(1.0, 0.5), (2.0, 0.0)]:
        pa, pb = _pair()
        ours = fo.clip_grad_norm_(pa, max_norm, norm_type)
        theirs = torch.nn.utils.clip_grad_norm_(pb, max_norm, norm_type)
        torch.testing.assert_close(ours, theirs)
        assert_params_close([p.grad for p in pa], [p.grad for p in pb])


def test_nonfinite_norm():
    pa, pb = _pair()
    pa[0].grad[0, 0] = pb[0].grad[0, 0] = float("nan")
    with pytest.raises(RuntimeError, match="non-finite"):
        fo.clip_grad_norm_(pa, 1.0, error_if_nonfinite=True)
    ours, theirs = fo.clip_grad_norm_(pa, 1.0), torch.nn.utils.clip_grad_norm_(pb, 1.0)
    assert math.isnan(ours.item()) and math.isnan(theirs.item())
    assert all(p.grad.isnan().all() for p in pa)  # scaled by a nan coefficient, as torch does
    assert all(p.grad.isnan().all() for p in pb)


def test_clip_grad_value_matches_torch():
    pa, pb = _pair()
    pa[1].grad[0] = pb[1].grad[0] = float("nan")
    fo.clip_grad_value_(pa, 0.3)
    torch.nn.utils.clip_grad_value_(pb, 0.3)
    for a, b in zip(pa, pb):
        torch.testing.assert_close(a.grad, b.grad, rtol=0, atol=0, equal_nan=True)
