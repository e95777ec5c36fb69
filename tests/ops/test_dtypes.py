"""fastlit.ops.SUPPORTED_DTYPES (Python) and csrc/include/fastlit/dtypes.h (C++) name the same dtypes.

Every op is called with tensors of each floating dtype torch has: it must run exactly on SUPPORTED_DTYPES, and
its refusal must list exactly those dtypes (the C++ error text).
"""
import re
from pathlib import Path

import pytest
import torch

from fastlit import ops

FLOATING = [torch.float64, torch.float32, torch.bfloat16, torch.float16, torch.float8_e4m3fn, torch.float8_e5m2]
NAMES = [str(d).replace("torch.", "") for d in ops.SUPPORTED_DTYPES]
REFUSAL = rf"fastlit's fused ops support {', '.join(NAMES[:-1])} and {NAMES[-1]}\.$"


def _tensors(dtype):
    return [torch.ones(5, 3).to(dtype), torch.ones(7).to(dtype)]


CALLS = {
    "fused_adam_": lambda ts: ops.fused_adam_(ts, [t.clone() for t in ts], [torch.zeros_like(t) for t in ts],
                                              [torch.zeros_like(t) for t in ts], [], [torch.zeros(()) for _ in ts],
                                              lr=1e-3, beta1=0.9, beta2=0.999, weight_decay=0.0, eps=1e-8),
    "fused_sgd_": lambda ts: ops.fused_sgd_(ts, [t.clone() for t in ts], [], lr=0.1),
    "multi_tensor_l2norm": lambda ts: ops.multi_tensor_l2norm(ts),
    "unscale_and_check_": lambda ts: ops.unscale_and_check_(ts, torch.zeros(()), torch.tensor(0.5)),
    "clip_grad_value_": lambda ts: ops.clip_grad_value_(ts, 0.5),
}


def test_every_op_is_covered():
    registry = (Path(__file__).resolve().parents[2] / "csrc" / "registry.cpp").read_text()
    assert sorted(re.findall(r'm\.def\(\s*"(\w+)\(', registry)) == sorted(CALLS)


@pytest.mark.parametrize("dtype", FLOATING, ids=str)
@pytest.mark.parametrize("op", sorted(CALLS))
def test_ops_take_exactly_the_supported_dtypes(op, dtype):
    ts = _tensors(dtype)
    if dtype in ops.SUPPORTED_DTYPES:
        CALLS[op](ts)
    else:
        with pytest.raises(RuntimeError, match=REFUSAL):
            CALLS[op](ts)
