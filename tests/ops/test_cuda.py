"""CUDA kernels against the CPU kernels (already checked against torch) and torch's CUDA fused ops.

Skipped only without a GPU. With a GPU, a fastlit._C that did not load or was built without its CUDA sources
fails every test here (a build that silently lost its CUDA kernels must not pass CI on a GPU machine).
"""
import math

import pytest
import torch

import fastlit._ext as ext
from fastlit import ops

from . import bad_inputs
from .reference import assert_close_scaled, opcheck

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def missing_cuda_kernels() -> str:
    """Why fastlit's CUDA kernels are not usable in this process, or "" when every op has one."""
    if not ext.EXT_AVAILABLE:
        return f"fastlit._C did not load ({ext.EXT_ERROR})"
    if not ext._C.with_cuda():
        return "fastlit._C was built without its CUDA sources (FASTLIT_NO_CUDA=1, a CPU torch or no nvcc at build time)"
    lacking = [op for op in bad_inputs.OPS if not torch._C._dispatch_has_kernel_for_dispatch_key(f"fastlit::{op}",
                                                                                                 "CUDA")]
    return f"no CUDA kernel is registered for fastlit::{', '.join(lacking)}" if lacking else ""


@pytest.fixture(autouse=True)
def _cuda_kernels_built():
    why = missing_cuda_kernels()
    if why:
        pytest.fail(f"a CUDA device is present but {why}; rebuild with `FORCE_CUDA=1 pip install "
                    "--no-build-isolation -e .` (CUDA toolkit and a CUDA build of torch needed)", pytrace=False)

# Many tensors (more than one launch holds), one tensor spanning several launches (> 320 chunks of 64 Ki), odd
# sizes and an empty one.
SHAPES = [(64, 784), (3,), (0,), (33, 17), *[(i + 1,) for i in range(70)], (321 * 65536 + 5,)]
DTYPES = [torch.float32, torch.bfloat16, torch.float16]


def make(dtype, seed, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    return [(torch.randn(s, generator=g) * scale).to(dtype) for s in SHAPES]


def to_cuda(ts):
    return [t.cuda() for t in ts]


def close(cuda_ts, cpu_ts, tol=1e-6, what=""):
    for i, (a, b) in enumerate(zip(cuda_ts, cpu_ts)):
        if b.numel():
            assert_close_scaled(a.cpu(), b, tol, f"{what}[{i}]")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("amsgrad", [False, True])
@pytest.mark.parametrize("decoupled", [False, True])
def test_adam_matches_cpu(dtype, amsgrad, decoupled):
    params = make(dtype, 0)
    cpu = {"p": [p.clone() for p in params], "m": [torch.zeros_like(p, dtype=torch.float32) for p in params]}
    cpu["v"] = [torch.zeros_like(m) for m in cpu["m"]]
    cpu["x"] = [torch.zeros_like(m) for m in cpu["m"]] if amsgrad else []
    cpu["s"] = [torch.zeros(()) for _ in params]
    gpu = {k: to_cuda(v) for k, v in cpu.items()}
    kw = dict(lr=1e-2, beta1=0.9, beta2=0.999, weight_decay=0.1, eps=1e-8, amsgrad=amsgrad, maximize=True,
              decoupled_weight_decay=decoupled)
    for step in range(3):
        grads = make(dtype, 10 + step, 64.0)
        found = torch.tensor(1.0 if step == 1 else 0.0)
        extra = dict(grad_scale=torch.tensor(64.0), found_inf=found, grad_factor=torch.tensor(0.5))
        ops.fused_adam_(cpu["p"], grads, cpu["m"], cpu["v"], cpu["x"], cpu["s"], **kw, **extra)
        ops.fused_adam_(gpu["p"], to_cuda(grads), gpu["m"], gpu["v"], gpu["x"], gpu["s"], **kw,
                        **{k: v.cuda() for k, v in extra.items()})
    for key in ("p", "m", "v", "x"):
        close(gpu[key], cpu[key], 1e-6 if dtype == torch.float32 else 1e-2, key)
    assert [s.item() for s in gpu["s"]] == [2.0] * len(params)


def test_adam_matches_torch_fused_cuda():
    params = to_cuda(make(torch.float32, 0))
    theirs = [p.clone().requires_grad_() for p in params]
    opt = torch.optim.AdamW(theirs, lr=1e-2, fused=True)
    ours = [p.clone() for p in params]
    m, v = [torch.zeros_like(p) for p in ours], [torch.zeros_like(p) for p in ours]
    steps = [torch.zeros((), device="cuda") for _ in ours]
    for step in range(3):
        grads = to_cuda(make(torch.float32, 20 + step))
        for t, g in zip(theirs, grads):
            t.grad = g.clone()
        opt.step()
        ops.fused_adam_(ours, grads, m, v, [], steps, lr=1e-2, beta1=0.9, beta2=0.999, weight_decay=0.01, eps=1e-8,
                        decoupled_weight_decay=True)
    close(ours, [t.detach().cpu() for t in theirs], 1e-6, "param")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_sgd_matches_cpu(dtype, momentum):
    params = make(dtype, 0)
    cpu_p, gpu_p = [p.clone() for p in params], to_cuda(params)
    cpu_b = [torch.zeros_like(p, dtype=torch.float32) for p in params] if momentum else []
    gpu_b = to_cuda(cpu_b)
    kw = dict(lr=0.1, momentum=momentum, weight_decay=0.01, nesterov=momentum > 0, maximize=False)
    for step in range(3):
        grads = make(dtype, 10 + step)
        extra = dict(grad_scale=torch.tensor(2.0), grad_factor=torch.tensor(0.7))
        ops.fused_sgd_(cpu_p, grads, cpu_b, is_first_step=step == 0, **kw, **extra)
        ops.fused_sgd_(gpu_p, to_cuda(grads), gpu_b, is_first_step=step == 0, **kw,
                       **{k: v.cuda() for k, v in extra.items()})
    close(gpu_p, cpu_p, 1e-6 if dtype == torch.float32 else 1e-2, "param")
    close(gpu_b, cpu_b, 1e-6 if dtype == torch.float32 else 1e-2, "buffer")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("norm_type", [2.0, math.inf])
def test_norm_matches_cpu(dtype, norm_type):
    ts = make(dtype, 3)
    ts[40][0] = math.inf
    cpu = ops.multi_tensor_l2norm(ts, norm_type, True, 1.0, torch.tensor(0.5))
    gpu = ops.multi_tensor_l2norm(to_cuda(ts), norm_type, True, 1.0, torch.tensor(0.5, device="cuda"))
    assert gpu.nonfinite.item() == cpu.nonfinite.item() == 1.0
    clean = [t for i, t in enumerate(ts) if i != 40]
    cpu = ops.multi_tensor_l2norm(clean, norm_type, True, 1.0, torch.tensor(0.5))
    gpu = ops.multi_tensor_l2norm(to_cuda(clean), norm_type, True, 1.0, torch.tensor(0.5, device="cuda"))
    for a, b in zip(gpu, cpu):
        if b.numel():
            assert_close_scaled(a.cpu(), b, 1e-5, "norm output")


@pytest.mark.parametrize("dtype", DTYPES)
def test_unscale_and_clip_match_cpu(dtype):
    ts = make(dtype, 4, 100.0)
    ts[5][0] = math.nan
    cpu_found, gpu_found = torch.zeros(()), torch.zeros((), device="cuda")
    gpu = to_cuda(ts)
    ops.unscale_and_check_(ts, cpu_found, torch.tensor(0.25))
    ops.unscale_and_check_(gpu, gpu_found, torch.tensor(0.25, device="cuda"))
    assert gpu_found.item() == cpu_found.item() == 1.0
    ops.clip_grad_value_(ts, 3.0)
    ops.clip_grad_value_(gpu, 3.0)
    for a, b in zip(gpu, ts):
        torch.testing.assert_close(a.cpu(), b, rtol=0, atol=0, equal_nan=True)


def test_opcheck_cuda():
    p = [torch.randn(5, 3, device="cuda"), torch.randn(7, device="cuda").bfloat16()]
    g = [torch.randn_like(x) for x in p]
    st = [torch.zeros_like(x, dtype=torch.float32) for x in p]
    steps = [torch.zeros((), device="cuda") for _ in p]
    opcheck(torch.ops.fastlit.fused_adam_.default, (p, g, st, [s.clone() for s in st], [], steps),
            dict(lr=1e-3, beta1=0.9, beta2=0.999, weight_decay=0.0, eps=1e-8, amsgrad=False, maximize=False,
                 decoupled_weight_decay=True))
    opcheck(torch.ops.fastlit.fused_sgd_.default, (p, g, st),
            dict(weight_decay=0.0, momentum=0.9, lr=0.1, dampening=0.0, nesterov=False, maximize=False,
                 is_first_step=True))
    opcheck(torch.ops.fastlit.multi_tensor_l2norm.default, (g, 2.0, True, 1.0, None))
    opcheck(torch.ops.fastlit.unscale_and_check_.default,
            (g, torch.zeros((), device="cuda"), torch.tensor(0.5, device="cuda")))
    opcheck(torch.ops.fastlit.clip_grad_value_.default, (g, 0.5))


# The CPU table of bad inputs (test_rejection.py), here with real device mixes: CUDA arguments with one on the CPU
# (every case: the CUDA kernels run the same checks on their own tensors), and CPU arguments with one on the GPU
# (the dispatcher then picks the CUDA kernel, which must refuse the CPU tensors).
CUDA_CASES = bad_inputs.cases("cuda", "cpu")
CPU_WITH_ONE_CUDA = [c for c in bad_inputs.cases("cpu", "cuda") if c.id.endswith("-device")]


@pytest.mark.parametrize("case", CUDA_CASES + CPU_WITH_ONE_CUDA,
                         ids=[f"cuda-{c.op}-{c.id}" for c in CUDA_CASES] + [f"cpu-{c.op}-{c.id}"
                                                                           for c in CPU_WITH_ONE_CUDA])
def test_bad_input_is_rejected_with_a_clear_error_before_any_write(case):
    args = case.make()
    dense = [t for t in bad_inputs.tensors_in(args) if t.layout == torch.strided]
    before = [t.clone() for t in dense]
    with pytest.raises(RuntimeError, match=case.message):
        bad_inputs.call(case.op, args, "CUDA")
    torch.cuda.synchronize()
    for i, (a, b) in enumerate(zip(before, dense)):
        assert torch.equal(a, b), f"tensor {i} was written before the check failed"


@pytest.mark.parametrize("op", bad_inputs.OPS)
def test_valid_cuda_arguments_are_accepted(op):
    args = bad_inputs.valid_args(op, "cuda")
    bad_inputs.call(op, args, "CUDA")
    torch.cuda.synchronize()
