"""Accelerators (``Trainer(accelerator=CPUAccelerator())``, ``CUDAAccelerator.is_available()``) and
``AcceleratorRegistry``. fastlit trains on CPU and CUDA; MPS is known but refused by the Trainer, XLA/TPU and
HPU are placeholders."""
from fastlit._placeholders import placeholder_class, reason
from fastlit.accelerators.accelerator import Accelerator
from fastlit.accelerators.cpu import CPUAccelerator
from fastlit.accelerators.cuda import CUDAAccelerator, find_usable_cuda_devices
from fastlit.accelerators.mps import MPSAccelerator
from fastlit.accelerators.xla import XLAAccelerator
from fastlit.utilities._registry import _AcceleratorRegistry

__all__ = ["Accelerator", "CPUAccelerator", "CUDAAccelerator", "MPSAccelerator", "XLAAccelerator",
           "find_usable_cuda_devices"]

# names Lightning 2.x keeps only to say they were removed
HPUAccelerator = placeholder_class(__name__, "HPUAccelerator", *reason("hpu"), bases=(Accelerator,))
TPUAccelerator = placeholder_class(__name__, "TPUAccelerator", *reason("tpu"), bases=(Accelerator,))

AcceleratorRegistry = _AcceleratorRegistry()
for _cls in (CPUAccelerator, CUDAAccelerator, MPSAccelerator):
    _cls.register_accelerators(AcceleratorRegistry)
