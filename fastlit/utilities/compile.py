"""Lightning's ``utilities.compile`` path. ``from_compiled``/``to_uncompiled`` work on LightningModules, so they
live in ``fastlit.core.compile``; they and the strategies Lightning's module also exports sit above the utilities
and are imported on first use (see fastlit._reexport)."""
from fastlit._reexport import lazy_exports

__getattr__ = lazy_exports(__name__, {
    "from_compiled": "fastlit.core.compile",
    "to_uncompiled": "fastlit.core.compile",
    "DDPStrategy": "fastlit.strategies",
    "DeepSpeedStrategy": "fastlit.strategies",
    "FSDPStrategy": "fastlit.strategies",
    "SingleDeviceStrategy": "fastlit.strategies",
    "Strategy": "fastlit.strategies",
})
