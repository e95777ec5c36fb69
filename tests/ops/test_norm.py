"""fastlit.ops.multi_tensor_l2norm and clip_grad_value_ against torch.linalg / torch.nn.utils."""
import math

import pytest
import torch

from fastlit import ops

from .reference import assert_close_scaled, opcheck

DTYPES = [torch.float32, torch.bfloat16, torch.float16]


def tensors(dtype=torch.float32, seed=0, shapes=((64, 784), (64,), (3, 64), (3,), (0,), (5, 5, 5))):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(s, generator=g).to(dtype) for s in shapes]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("norm_type", [2.0, math.inf])
def test_norms_match_fp64(dtype, norm_type):
    # The reference is fp64: fp32 torch.linalg.vector_norm itself is off by ~1e-5 on a million elements, while
    # fastlit accumulates in fp32 lanes flushed to fp64 every 1024 elements.
    ts = tensors(dtype)
    res = ops.multi_tensor_l2norm(ts, norm_type, per_tensor=True)
    # torch refuses the inf-norm of an empty tensor; fastlit reports 0 for it (the max over nothing, as |x| >= 0)
    ref_per = torch.stack([torch.linalg.vector_norm(t.double(), norm_type) if t.numel() else torch.zeros((),
                           dtype=torch.float64) for t in ts]).float()
    ref_total = torch.linalg.vector_norm(ref_per.double(), norm_type).float()
    assert_close_scaled(res.per_tensor, ref_per, 1e-6, "per-tensor")
    assert_close_scaled(res.norm, ref_total, 1e-6, "total")
    assert res.nonfinite.item() == 0.0 and res.grad_factor.item() == 1.0
    assert ops.multi_tensor_l2norm(ts, norm_type).per_tensor.numel() == 0


@pytest.mark.parametrize("norm_type", [2.0, math.inf])
@pytest.mark.parametrize("max_norm", [0.5, 1e6])
def test_grad_factor_reproduces_clip_grad_norm(norm_type, max_norm):
    grads = tensors(shapes=((64, 784), (64,), (3, 64), (3,), (5, 5, 5)))  # torch rejects inf-norms of empties
    ref_params = [torch.nn.Parameter(torch.zeros_like(g)) for g in grads]
    for p, g in zip(ref_params, grads):
        p.grad = g.clone()
    ref_norm = torch.nn.utils.clip_grad_norm_(ref_params, max_norm, norm_type)
    res = ops.multi_tensor_l2norm(grads, norm_type, max_norm=max_norm)
    assert_close_scaled(res.norm, ref_norm, 1e-6, "norm")
    for p, g in zip(ref_params, grads):
        assert_close_scaled(g * res.grad_factor, p.grad, 1e-6, "clipped grad")


def test_inv_scale_is_folded_in():
    grads = tensors()
    scaled = [g * 1024 for g in grads]
    plain = ops.multi_tensor_l2norm(grads, per_tensor=True, max_norm=1.0)
    res = ops.multi_tensor_l2norm(scaled, per_tensor=True, max_norm=1.0, inv_scale=torch.tensor(1 / 1024))
    assert_close_scaled(res.norm, plain.norm, 1e-6, "norm")
    assert_close_scaled(res.per_tensor, plain.per_tensor, 1e-6, "per-tensor")
    assert_close_scaled(res.grad_factor * 1024, plain.grad_factor, 1e-6, "factor")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("bad", [math.inf, -math.inf, math.nan])
def test_nonfinite_flag(dtype, bad):
    ts = tensors(dtype)
    ts[0][10, 100] = bad
    res = ops.multi_tensor_l2norm(ts, per_tensor=True)
    assert res.nonfinite.item() == 1.0
    assert not math.isfinite(res.norm.item()) and not math.isfinite(res.per_tensor[0].item())
    assert math.isfinite(res.per_tensor[1].item())
    inf_res = ops.multi_tensor_l2norm(ts, math.inf)
    ref = torch.linalg.vector_norm(ts[0].float(), math.inf)
    torch.testing.assert_close(inf_res.norm, ref, equal_nan=True)


def test_large_finite_values_are_not_flagged():
    # Squares overflow fp32 (norm = inf, as in torch) but no element is inf / nan.
    res = ops.multi_tensor_l2norm([torch.full((10,), 1e30)])
    assert res.nonfinite.item() == 0.0
    assert res.norm.item() == torch.linalg.vector_norm(torch.full((10,), 1e30)).item()


def test_empty_list_and_parallel_chunks():
    res = ops.multi_tensor_l2norm([], per_tensor=True, max_norm=1.0)
    assert res.norm.item() == 0.0 and res.nonfinite.item() == 0.0 and res.grad_factor.item() == 1.0
    prev = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        ts = [torch.randn(1_000_003), torch.randn(77), torch.randn(300_000)]
        ts[2][299_999] = math.nan  # flagged even in the last chunk of the last tensor
        res = ops.multi_tensor_l2norm(ts, per_tensor=True)
        ref = torch.stack([torch.linalg.vector_norm(t.double()) for t in ts[:2]]).float()
        assert_close_scaled(res.per_tensor[:2], ref, 1e-6, "per-tensor")
        assert res.nonfinite.item() == 1.0
    finally:
        torch.set_num_threads(prev)


def test_bad_inputs():
    with pytest.raises(RuntimeError, match="norm_type must be 2 or inf"):
        ops.multi_tensor_l2norm([torch.ones(3)], 1.0)
    with pytest.raises(RuntimeError, match="not dense"):
        ops.multi_tensor_l2norm([torch.ones(4, 4)[:, :2]])
    with pytest.raises(RuntimeError, match="float32, bfloat16 and float16"):
        ops.multi_tensor_l2norm([torch.ones(3, dtype=torch.float64)])


@pytest.mark.parametrize("dtype", DTYPES)
def test_clip_grad_value_matches_torch(dtype):
    ts = tensors(dtype)
    ts[0][0, 0], ts[0][0, 1] = math.nan, math.inf
    ref = [torch.nn.Parameter(torch.zeros_like(t)) for t in ts]
    for p, t in zip(ref, ts):
        p.grad = t.clone()
    torch.nn.utils.clip_grad_value_(ref, 0.7)
    ops.clip_grad_value_(ts, 0.7)
    for p, t in zip(ref, ts):
        torch.testing.assert_close(t, p.grad, rtol=0, atol=0, equal_nan=True)


def test_opcheck():
    ts = [torch.randn(5, 3), torch.randn(7).bfloat16()]
    opcheck(torch.ops.fastlit.multi_tensor_l2norm.default, (ts, 2.0, True, 1.0, torch.tensor(0.5)))
    opcheck(torch.ops.fastlit.multi_tensor_l2norm.default, (ts, math.inf, False, 0.0, None))
    opcheck(torch.ops.fastlit.clip_grad_value_.default, (ts, 0.5))
