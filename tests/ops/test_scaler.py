"""fastlit.ops.unscale_and_check_ / update_scale_ against torch's AMP ops, bit for bit."""
import math
import random

import pytest
import torch

from fastlit import ops

from .reference import opcheck


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
@pytest.mark.parametrize("bad", [None, math.inf, math.nan])
@pytest.mark.parametrize("inv", [1 / 65536, 1.0, 4.0])
def test_unscale_matches_torch(dtype, bad, inv):
    g = torch.Generator().manual_seed(0)
    grads = [(torch.randn(s, generator=g) * 100).to(dtype) for s in [(300, 7), (5,), (0,), (64,)]]
    if bad is not None:
        grads[3][17] = bad
    ref = [t.clone() for t in grads]
    ref_found, found = torch.zeros(()), torch.zeros(())
    torch._amp_foreach_non_finite_check_and_unscale_(ref, ref_found, torch.tensor(inv))
    ops.unscale_and_check_(grads, found, torch.tensor(inv))
    assert found.item() == ref_found.item() == (0.0 if bad is None else 1.0)
    for a, b in zip(grads, ref):
        torch.testing.assert_close(a, b, rtol=0, atol=0, equal_nan=True)


def test_found_inf_is_never_reset():
    found = torch.ones(())
    ops.unscale_and_check_([torch.ones(3)], found, torch.tensor(0.5))
    assert found.item() == 1.0


@pytest.mark.parametrize("interval", [1, 3])
@pytest.mark.parametrize("factors", [(2.0, 0.5), (1.7, 0.3)])
def test_update_scale_sequence_matches_torch(interval, factors):
    rng = random.Random(0)
    scale, tracker = torch.tensor(65536.0), torch.zeros((), dtype=torch.int32)
    ref_scale, ref_tracker = scale.clone(), tracker.clone()
    for _ in range(60):
        found = torch.tensor(1.0 if rng.random() < 0.3 else 0.0)
        torch._amp_update_scale_(ref_scale, ref_tracker, found, factors[0], factors[1], interval)
        out = ops.update_scale_(scale, tracker, found, factors[0], factors[1], interval)
        assert out is scale
        assert scale.item() == ref_scale.item() and tracker.item() == ref_tracker.item()


def test_update_scale_never_grows_to_inf():
    scale, tracker = torch.tensor(3e38), torch.zeros((), dtype=torch.int32)
    ops.update_scale_(scale, tracker, torch.zeros(()), 2.0, 0.5, 1)
    assert scale.item() == pytest.approx(3e38) and tracker.item() == 0


def test_bad_inputs():
    with pytest.raises(RuntimeError, match="growth_tracker must be a one-element int32"):
        ops.update_scale_(torch.ones(()), torch.zeros(()), torch.zeros(()), 2.0, 0.5, 10)
    with pytest.raises(RuntimeError, match="found_inf must be a one-element float32"):
        ops.unscale_and_check_([torch.ones(2)], torch.zeros((), dtype=torch.float64), torch.ones(()))


def test_opcheck():
    grads = [torch.randn(5, 3), torch.randn(7).half()]
    opcheck(torch.ops.fastlit.unscale_and_check_.default, (grads, torch.zeros(()), torch.tensor(0.25)))
    opcheck(torch.ops.fastlit.update_scale_.default,
            (torch.tensor(8.0), torch.zeros((), dtype=torch.int32), torch.zeros(()), 2.0, 0.5, 2))
