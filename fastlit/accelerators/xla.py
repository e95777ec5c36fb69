"""``XLAAccelerator`` (TPUs through torch_xla): not in fastlit."""
from fastlit._placeholders import placeholder_class, reason
from fastlit.accelerators.accelerator import Accelerator

XLAAccelerator = placeholder_class(__name__, "XLAAccelerator", *reason("xla"), bases=(Accelerator,))
# Lightning's registry and connector ask every accelerator class these without instantiating it
XLAAccelerator.is_available = staticmethod(lambda: False)  # type: ignore[attr-defined]
XLAAccelerator.name = staticmethod(lambda: "tpu")  # type: ignore[attr-defined]
XLAAccelerator.auto_device_count = staticmethod(lambda: 0)  # type: ignore[attr-defined]
