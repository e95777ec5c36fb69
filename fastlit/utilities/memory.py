"""Memory helpers: detach a nest of tensors, recognise out-of-memory errors, give cached CUDA memory back."""
from __future__ import annotations

import gc
from typing import Any

import torch
from torch import Tensor

from fastlit.utilities.apply_func import apply_to_collection


def recursive_detach(in_dict: Any, to_cpu: bool = False) -> Any:
    """Every tensor in a (nested) collection detached, and moved to the CPU if ``to_cpu``; other values as they are."""

    def detach(t: Tensor) -> Tensor:
        t = t.detach()
        return t.cpu() if to_cpu else t

    return apply_to_collection(in_dict, Tensor, detach)


def _single_message(exception: BaseException) -> str:
    # torch raises these as RuntimeError with one string argument; anything else is not one of them
    if isinstance(exception, RuntimeError) and len(exception.args) == 1 and isinstance(exception.args[0], str):
        return exception.args[0]
    return ""


def is_cuda_out_of_memory(exception: BaseException) -> bool:
    msg = _single_message(exception)
    return "CUDA" in msg and "out of memory" in msg


def is_cudnn_snafu(exception: BaseException) -> bool:
    # cuDNN reports some out-of-memory conditions as "not supported" (pytorch/pytorch#4107)
    return "cuDNN error: CUDNN_STATUS_NOT_SUPPORTED." in _single_message(exception)


def is_out_of_cpu_memory(exception: BaseException) -> bool:
    return "DefaultCPUAllocator: can't allocate memory" in _single_message(exception)


def is_oom_error(exception: BaseException) -> bool:
    """Whether ``exception`` is an out-of-memory error (CUDA, cuDNN's variant, or the CPU allocator's)."""
    return (isinstance(exception, torch.cuda.OutOfMemoryError) or is_cuda_out_of_memory(exception)
            or is_cudnn_snafu(exception) or is_out_of_cpu_memory(exception))


def garbage_collection_cuda(after_oom: bool = False) -> None:
    """Free what the previous trial left behind, so the next one starts from the same memory.

    A full ``gc.collect()`` costs ~0.2 s in a big process, so it runs only where it can matter: with CUDA in use
    (cached blocks go back to the driver too), or after an out-of-memory error (its traceback holds tensors).
    """
    cuda = torch.cuda.is_available() and torch.cuda.is_initialized()
    if not (cuda or after_oom):
        return
    gc.collect()
    if cuda:
        try:
            torch.cuda.empty_cache()
        except RuntimeError as e:  # emptying the cache can itself run out of memory; only that is swallowed
            if not is_oom_error(e):
                raise
