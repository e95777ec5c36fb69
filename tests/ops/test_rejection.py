"""Every op in csrc/registry.cpp rejects each bad tensor argument (not dense / not laid out like its parameter, on
another device, of the wrong dtype or size, a list of the wrong length) before writing anything, with an error
that names the op, the argument and index, and the problem. The cases live in bad_inputs.py (test_cuda.py runs
the same table with real CUDA / CPU mixes).

Wrong-device cases here put one tensor on the `meta` device. Through the dispatcher a meta tensor would select
the fake (shape-only) kernel, so those calls are sent straight to the CPU kernel with `redispatch`: exactly what
happens to a CUDA op whose arguments include a CPU tensor, which the CUDA kernel's (shared) checks must refuse.
"""
import math
import re
from pathlib import Path

import pytest
import torch

from fastlit import ops

from . import bad_inputs
from .bad_inputs import OPS, cases, tensors_in, valid_args
from .reference import assert_close_scaled

CPU_KERNEL = torch._C.DispatchKeySet(torch._C.DispatchKey.CPU)
CASES = cases("cpu", "meta")


def call(op: str, args: list):
    return bad_inputs.call(op, args, "CPU")


def test_every_registered_op_and_tensor_argument_has_cases():
    # A new op (or a new tensor argument) in registry.cpp must come with its rejection cases.
    registry = (Path(__file__).resolve().parents[2] / "csrc" / "registry.cpp").read_text()
    assert sorted(re.findall(r'm\.def\(\s*"(\w+)\(', registry)) == sorted(OPS)
    ids = {op: {c.id for c in CASES if c.op == op} for op in OPS}
    for op in OPS:
        for arg in getattr(torch.ops.fastlit, op).default._schema.arguments:
            kind = str(arg.type)
            if "Tensor" not in kind:
                continue
            have = ids[op]
            assert f"{arg.name}-device" in have, (op, arg.name, "device")
            assert any(i.startswith(f"{arg.name}-dtype") for i in have), (op, arg.name, "dtype")
            if kind.startswith("List") and arg.name != "state_steps":  # state_steps are one-element tensors
                assert {f"{arg.name}-gapped", f"{arg.name}-expanded"} <= have, (op, arg.name, "layout")
            else:
                assert f"{arg.name}-numel" in have, (op, arg.name, "numel")


@pytest.mark.parametrize("op", OPS)
def test_valid_arguments_are_accepted_and_written(op):
    # The cases start from these arguments, so a rejection is the mutation's doing; and the op really writes
    # to them, so "nothing was written" below is not vacuous.
    args = valid_args(op)
    before = [t.clone() for t in tensors_in(args)]
    out = call(op, args)
    changed = [not torch.equal(a, b) for a, b in zip(before, tensors_in(args))]
    if op == "multi_tensor_l2norm":
        assert not any(changed) and math.isfinite(out[0].item()) and out[0].item() > 0
    else:
        assert any(changed), f"{op} changed nothing"


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.op}-{c.id}")
def test_bad_input_is_rejected_with_a_clear_error_before_any_write(case):
    args = case.make()
    cpu = [t for t in tensors_in(args) if t.device.type == "cpu" and t.layout == torch.strided]
    before = [t.clone() for t in cpu]
    with pytest.raises(RuntimeError, match=case.message):
        call(case.op, args)
    for i, (a, b) in enumerate(zip(before, cpu)):
        assert torch.equal(a, b), f"tensor {i} was written before the check failed"


def test_empty_lists_reach_no_kernel_work():
    # The wrappers answer empty lists themselves (no tensor to dispatch on); the C++ ops return cleanly too.
    for op in ("fused_adam_", "fused_sgd_"):
        args = valid_args(op)
        args = [[] if isinstance(a, list) else a for a in args]
        call(op, args)  # nothing to check, nothing to do
        getattr(torch.ops.fastlit, op).default.redispatch(CPU_KERNEL, *args)
    getattr(torch.ops.fastlit, "unscale_and_check_").default.redispatch(
        CPU_KERNEL, [], torch.zeros((), dtype=torch.float64), torch.ones(()))  # unchecked: there is no device yet


@pytest.mark.parametrize("op", ["multi_tensor_l2norm", "unscale_and_check_", "clip_grad_value_"])
def test_dense_non_contiguous_tensors_are_accepted_where_order_does_not_matter(op):
    # Norms, clamping and unscaling treat each tensor as a bag of elements: a transpose or channels_last tensor
    # is fine (only gaps and overlaps are refused) and gives the same answer as its contiguous copy.
    base = [torch.randn(6, 4) * 10, torch.randn(2, 3, 4, 5).half() * 10]
    odd = [torch.randn(4, 6).t() * 10, base[1].clone().to(memory_format=torch.channels_last)]
    odd[0].copy_(base[0])
    assert not odd[0].is_contiguous() and not odd[1].is_contiguous()
    if op == "multi_tensor_l2norm":
        res = ops.multi_tensor_l2norm(odd, per_tensor=True)  # summed in memory order: equal up to rounding
        ref = torch.stack([torch.linalg.vector_norm(t.double()) for t in base])
        assert_close_scaled(res.per_tensor.double(), ref, 1e-6, "per-tensor")
        assert_close_scaled(res.norm.double(), torch.linalg.vector_norm(ref), 1e-6, "norm")
        return
    if op == "unscale_and_check_":
        fa, fb = torch.zeros(()), torch.zeros(())
        ops.unscale_and_check_(base, fa, torch.tensor(0.125))
        ops.unscale_and_check_(odd, fb, torch.tensor(0.125))
        assert fa.item() == fb.item() == 0.0
    else:
        ops.clip_grad_value_(base, 3.0)
        ops.clip_grad_value_(odd, 3.0)
    for a, b in zip(base, odd):
        assert torch.equal(a, b)
