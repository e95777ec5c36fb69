"""fastlit.ops.unscale_and_check_ against torch's AMP op, bit for bit."""
import math

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


def test_bad_inputs():
    with pytest.raises(RuntimeError, match="found_inf must be a one-element float32"):
        ops.unscale_and_check_([torch.ones(2)], torch.zeros((), dtype=torch.float64), torch.ones(()))


def test_opcheck():
    grads = [torch.randn(5, 3), torch.randn(7).half()]
    opcheck(torch.ops.fastlit.unscale_and_check_.default, (grads, torch.zeros(()), torch.tensor(0.25)))
