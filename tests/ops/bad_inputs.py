"""One table of bad inputs for every op in csrc/registry.cpp, shared by the CPU (test_rejection.py) and CUDA
(test_cuda.py) tests.

`cases(dev, other)` builds, for each op, valid arguments on device `dev` and one mutation per bad input: a
tensor-list entry or a scalar tensor that is not dense / not laid out like its parameter (non-contiguous, a view
with gaps, expanded), on the `other` device, of the wrong dtype, of the wrong size, or a list of the wrong length.
Each comes with the regex its error must match: the op, the argument (with its index) and the problem.
"""
from __future__ import annotations

import re
from typing import Callable, NamedTuple

import torch


class Case(NamedTuple):
    op: str  # the name in torch.ops.fastlit
    id: str
    make: Callable[[], list]  # the full positional argument list (fresh tensors each call)
    message: str  # regex the RuntimeError must match


def _gapped(like: torch.Tensor) -> torch.Tensor:
    """A view with gaps (every other element of a wider tensor), same shape / dtype / device as `like`."""
    wide = torch.randn(*like.shape[:-1], like.shape[-1] * 2, device=like.device).to(like.dtype)
    return wide[..., ::2]


def _transposed(like: torch.Tensor) -> torch.Tensor:
    """Dense but not contiguous: the transpose of a contiguous tensor (2-d `like` only)."""
    return torch.randn(like.shape[1], like.shape[0], device=like.device).to(like.dtype).t()


def _expanded(like: torch.Tensor) -> torch.Tensor:
    """Overlapping memory (stride 0 on the first dimension), as autograd produces for some broadcast grads."""
    return torch.randn(1, *like.shape[1:], device=like.device).to(like.dtype).expand(like.shape)


# How c10 names dtypes in messages.
C10_NAME = {torch.float64: "Double", torch.float32: "Float", torch.int32: "Int"}


def _q(s: str) -> str:
    return re.escape(s)


def _dev(d: str) -> str:
    """How c10 prints a device in messages (`cuda` -> `cuda:0`)."""
    return "cuda:0" if d == "cuda" else d


def _optimizer_cases(op: str, lists: list[str], scalars: list[str], build: Callable[[str], dict],
                     order: list[str], dev: str, other: str) -> list[Case]:
    """Cases for fused_adam_ / fused_sgd_: `build(dev)` returns the named arguments, `order` is the schema order."""
    name = f"fastlit.{op}"
    D, O = _dev(dev), _dev(other)
    out: list[Case] = []

    def case(cid, mutate, message):
        def make():
            kw = build(dev)
            mutate(kw)
            return [kw[k] for k in order]

        out.append(Case(op, cid, make, f"{_q(name)}: {message}"))

    def put(key, i, fn):
        def mutate(kw):
            kw[key] = list(kw[key])
            kw[key][i] = fn(kw[key][i])
        return mutate

    # params: dense, one device, supported float dtype
    case("params-gapped", put("params", 1, _gapped), r"params\[1\] is not a dense tensor")
    case("params-expanded", put("params", 0, _expanded), r"params\[0\] is not a dense tensor")
    case("params-device", put("params", 1, lambda t: t.to(other)),
         rf"params\[1\] is on {O} but params\[0\] is on {D}")
    for bad in (torch.float64, torch.int32):
        def both(kw, bad=bad):  # the grad follows so only the param's own dtype check can fire
            for key in lists:
                kw[key] = list(kw[key])
                kw[key][1] = kw[key][1].to(bad)
        case(f"params-dtype-{bad}", both,
             rf"params\[1\] has dtype {C10_NAME[bad]}; fastlit's fused ops support "
             r"float32, bfloat16 and float16")
    # every other list entry must match its param: layout, shape, device, dtype
    for key in lists[1:]:
        case(f"{key}-gapped", put(key, 1, _gapped), rf"{key}\[1\] is not laid out like params\[1\]")
        case(f"{key}-transposed", put(key, 0, _transposed), rf"{key}\[0\] is not laid out like params\[0\]")
        case(f"{key}-expanded", put(key, 0, _expanded), rf"{key}\[0\] is not laid out like params\[0\]")
        case(f"{key}-shape", put(key, 1, lambda t: t[:-1]), rf"{key}\[1\] has shape \[4\] but params\[1\] has shape")
        case(f"{key}-device", put(key, 1, lambda t: t.to(other)), rf"{key}\[1\] is on {O} but params\[1\] is on {D}")
        case(f"{key}-length", lambda kw, key=key: kw.__setitem__(key, kw[key][:1]), None)  # message per op below
        if key == "grads":  # sparse gradients (nn.Embedding(sparse=True)) are for torch.optim
            case("grads-sparse", put(key, 1, lambda t: t.to_sparse()),
                 r"grads\[1\] is sparse; fastlit's fused ops need dense tensors")
            case("grads-dtype", put(key, 1, lambda t: t.double()),
                 r"grads\[1\] has dtype Double but params\[1\] has dtype Float; gradients must match")
            case("grads-dtype-low", put(key, 0, lambda t: t.half()),
                 r"grads\[0\] has dtype Half but params\[0\] has dtype BFloat16; gradients must match")
        else:
            case(f"{key}-dtype", put(key, 1, lambda t: t.double()),
                 rf"{key}\[1\] has dtype Double but params\[1\] has dtype Float; state must be float32 or the param")
            case(f"{key}-dtype-low", put(key, 0, lambda t: t.half()),
                 rf"{key}\[0\] has dtype Half but params\[0\] has dtype BFloat16; state must be float32 or the param")
    # the optional one-element float32 tensors
    for key in scalars:
        case(f"{key}-dtype", lambda kw, key=key: kw.__setitem__(key, kw[key].double()),
             rf"{key} must be a one-element float32 tensor, got dtype Double")
        case(f"{key}-numel", lambda kw, key=key: kw.__setitem__(key, kw[key].repeat(2)),
             rf"{key} must be a one-element float32 tensor, got dtype Float with 2 elements")
        case(f"{key}-device", lambda kw, key=key: kw.__setitem__(key, kw[key].to(other)),
             rf"{key} is on {O} but the tensors are on {D}")
    return out


def _adam_args(dev: str) -> dict:
    # params[0] is bf16 with fp32 state, params[1] fp32 with fp32 state; amsgrad on so every list is used
    params = [torch.randn(4, 3, device=dev).bfloat16(), torch.randn(5, device=dev)]
    like = lambda: [torch.zeros_like(p, dtype=torch.float32) for p in params]  # noqa: E731
    return dict(params=params, grads=[torch.randn_like(p) for p in params], exp_avgs=like(), exp_avg_sqs=like(),
                max_exp_avg_sqs=like(), state_steps=[torch.zeros((), device=dev) for _ in params], lr=1e-3,
                beta1=0.9, beta2=0.999, weight_decay=0.01, eps=1e-8, amsgrad=True, maximize=False,
                decoupled_weight_decay=True, grad_scale=torch.tensor(2.0, device=dev),
                found_inf=torch.tensor(0.0, device=dev), grad_factor=torch.tensor(0.5, device=dev))


ADAM_ORDER = ["params", "grads", "exp_avgs", "exp_avg_sqs", "max_exp_avg_sqs", "state_steps", "lr", "beta1", "beta2",
              "weight_decay", "eps", "amsgrad", "maximize", "decoupled_weight_decay", "grad_scale", "found_inf",
              "grad_factor"]


def _sgd_args(dev: str) -> dict:
    params = [torch.randn(4, 3, device=dev).bfloat16(), torch.randn(5, device=dev)]
    return dict(params=params, grads=[torch.randn_like(p) for p in params],
                momentum_buffers=[torch.zeros_like(p, dtype=torch.float32) for p in params], weight_decay=0.01,
                momentum=0.9, lr=0.1, dampening=0.0, nesterov=True, maximize=False, is_first_step=False,
                grad_scale=torch.tensor(2.0, device=dev), found_inf=torch.tensor(0.0, device=dev),
                grad_factor=torch.tensor(0.5, device=dev))


SGD_ORDER = ["params", "grads", "momentum_buffers", "weight_decay", "momentum", "lr", "dampening", "nesterov",
             "maximize", "is_first_step", "grad_scale", "found_inf", "grad_factor"]
SCALARS = ["grad_scale", "found_inf", "grad_factor"]


def _adam_cases(dev, other):
    lists = ["params", "grads", "exp_avgs", "exp_avg_sqs", "max_exp_avg_sqs"]
    out = []
    for c in _optimizer_cases("fused_adam_", lists, SCALARS, _adam_args, ADAM_ORDER, dev, other):
        if c.id.endswith("-length"):
            key = c.id[: -len("-length")]
            msg = (r"amsgrad needs one max_exp_avg_sqs tensor per parameter, got 1 for 2 params"
                   if key == "max_exp_avg_sqs" else rf"got 2 params but 1 {key}; pass one entry per parameter")
            c = c._replace(message=rf"fastlit\.fused_adam_: {msg}")
        out.append(c)
    name, D, O = r"fastlit\.fused_adam_", _dev(dev), _dev(other)

    def case(cid, mutate, message):
        def make():
            kw = _adam_args(dev)
            mutate(kw)
            return [kw[k] for k in ADAM_ORDER]
        out.append(Case("fused_adam_", cid, make, f"{name}: {message}"))

    def bf16_param(kw, key, dtype):  # params[1] bf16 with fp32 exp_avgs and `key` in `dtype`
        for k in ("params", "grads"):
            kw[k] = [kw[k][0], kw[k][1].bfloat16()]
        kw[key] = [kw[key][0], kw[key][1].to(dtype)]

    # state dtypes must agree with each other (fp32, or bf16 like the param, but not mixed)
    case("exp_avg_sqs-dtype-vs-exp_avgs", lambda kw: bf16_param(kw, "exp_avg_sqs", torch.bfloat16),
         r"exp_avg_sqs\[1\] and exp_avgs\[1\] must have the same dtype")
    case("max_exp_avg_sqs-dtype-vs-exp_avgs", lambda kw: bf16_param(kw, "max_exp_avg_sqs", torch.bfloat16),
         r"max_exp_avg_sqs\[1\] and exp_avgs\[1\] must have the same dtype")
    # state_steps: one-element float32 on the params' device
    def steps(fn):
        return lambda kw: kw.__setitem__("state_steps", [kw["state_steps"][0], fn(kw["state_steps"][1])])

    case("state_steps-dtype", steps(lambda t: t.long()),
         rf"state_steps\[1\] must be a one-element float32 tensor on {D} \(got Long, 1 elements, on {D}\)")
    case("state_steps-numel", steps(lambda t: t.repeat(2)),
         rf"state_steps\[1\] must be a one-element float32 tensor on {D} \(got Float, 2 elements, on {D}\)")
    case("state_steps-device", steps(lambda t: t.to(other)),
         rf"state_steps\[1\] must be a one-element float32 tensor on {D} \(got Float, 1 elements, on {O}\)")
    case("state_steps-length", lambda kw: kw.__setitem__("state_steps", kw["state_steps"][:1]),
         r"got 2 params but 1 state_steps")
    return out


def _sgd_cases(dev, other):
    out = []
    for c in _optimizer_cases("fused_sgd_", ["params", "grads", "momentum_buffers"], SCALARS, _sgd_args, SGD_ORDER,
                              dev, other):
        if c.id.endswith("-length"):
            msg = (r"momentum=0\.9 needs one momentum buffer per parameter, got 1 for 2 params"
                   if c.id.startswith("momentum_buffers") else r"got 2 params but 1 grads; pass one entry per param")
            c = c._replace(message=rf"fastlit\.fused_sgd_: {msg}")
        out.append(c)
    return out


def _list_op_cases(op: str, build: Callable[[str], list], list_pos: int, scalar_pos: dict, dev: str,
                   other: str) -> list[Case]:
    """Ops over a list of tensors whose element order does not matter (any dense layout is fine)."""
    name, D, O = rf"fastlit\.{op}", _dev(dev), _dev(other)
    what = "tensors" if op == "multi_tensor_l2norm" else "grads"
    out: list[Case] = []

    def case(cid, mutate, message):
        def make():
            args = build(dev)
            mutate(args)
            return args
        out.append(Case(op, cid, make, f"{name}: {message}"))

    def put(i, fn):
        def mutate(args):
            args[list_pos] = list(args[list_pos])
            args[list_pos][i] = fn(args[list_pos][i])
        return mutate

    case(f"{what}-gapped", put(1, _gapped), rf"{what}\[1\] is not dense \(sparse, or a view with gaps\)")
    case(f"{what}-expanded", put(0, _expanded), rf"{what}\[0\] is not dense")
    case(f"{what}-sparse", put(1, lambda t: t.to_sparse()), rf"{what}\[1\] is not dense \(sparse")
    case(f"{what}-device", put(1, lambda t: t.to(other)), rf"{what}\[1\] is on {O} but {what}\[0\] is on {D}")
    case(f"{what}-dtype", put(1, lambda t: t.double()),
         rf"{what}\[1\] has dtype Double; fastlit's fused ops support float32, bfloat16 and float16")
    case(f"{what}-dtype-int", put(0, lambda t: t.int()), rf"{what}\[0\] has dtype Int; fastlit's fused ops support")
    for key, pos in scalar_pos.items():
        def at(fn, pos=pos):
            return lambda args: args.__setitem__(pos, fn(args[pos]))
        case(f"{key}-dtype", at(lambda t: t.double()), rf"{key} must be a one-element float32 tensor, got dtype Double")
        case(f"{key}-numel", at(lambda t: t.repeat(2)),
             rf"{key} must be a one-element float32 tensor, got dtype Float with 2 elements")
        case(f"{key}-device", at(lambda t: t.to(other)), rf"{key} is on {O} but the tensors are on {D}")
    return out


def _grads(dev):
    return [torch.randn(4, 3, device=dev) * 100, torch.randn(5, device=dev).half()]


def cases(dev: str = "cpu", other: str = "meta") -> list[Case]:
    """Every bad-input case of every op, with valid arguments on `dev` and the misplaced tensor on `other`."""
    return [
        *_adam_cases(dev, other),
        *_sgd_cases(dev, other),
        *_list_op_cases("multi_tensor_l2norm", lambda d: [_grads(d), 2.0, True, 1.0, torch.tensor(0.5, device=d)], 0,
                        {"inv_scale": 4}, dev, other),
        *_list_op_cases("unscale_and_check_", lambda d: [_grads(d), torch.zeros((), device=d),
                                                         torch.tensor(0.25, device=d)], 0,
                        {"found_inf": 1, "inv_scale": 2}, dev, other),
        *_list_op_cases("clip_grad_value_", lambda d: [_grads(d), 0.5], 0, {}, dev, other),
    ]


def valid_args(op: str, dev: str = "cpu") -> list:
    """The unmutated arguments every case of `op` starts from (they must be accepted)."""
    return {
        "fused_adam_": lambda: [_adam_args(dev)[k] for k in ADAM_ORDER],
        "fused_sgd_": lambda: [_sgd_args(dev)[k] for k in SGD_ORDER],
        "multi_tensor_l2norm": lambda: [_grads(dev), 2.0, True, 1.0, torch.tensor(0.5, device=dev)],
        "unscale_and_check_": lambda: [_grads(dev), torch.zeros((), device=dev), torch.tensor(0.25, device=dev)],
        "clip_grad_value_": lambda: [_grads(dev), 0.5],
    }[op]()


OPS = ["fused_adam_", "fused_sgd_", "multi_tensor_l2norm", "unscale_and_check_", "clip_grad_value_"]


def call(op: str, args: list, kernel: str):
    """Calls torch.ops.fastlit.<op> through the dispatcher, or straight into its `kernel` ("CPU" / "CUDA") when an
    argument would make the dispatcher pick another one: a meta tensor selects the fake (shape-only) kernel and a
    sparse one a backend fastlit does not register (torch's own "Could not run" error)."""
    overload = getattr(torch.ops.fastlit, op).default
    if any(t.device.type == "meta" or t.layout != torch.strided for t in tensors_in(args)):
        return overload.redispatch(torch._C.DispatchKeySet(getattr(torch._C.DispatchKey, kernel)), *args)
    return overload(*args)


def tensors_in(args) -> list[torch.Tensor]:
    """Every tensor among the arguments (lists flattened), in order."""
    out = []
    for a in args:
        if isinstance(a, torch.Tensor):
            out.append(a)
        elif isinstance(a, (list, tuple)):
            out += [t for t in a if isinstance(t, torch.Tensor)]
    return out
