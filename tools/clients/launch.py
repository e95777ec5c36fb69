"""Run one program under fastlit or under the real Lightning and record what its Trainers report.

    python tools/clients/launch.py fastlit|lightning OUT.json script.py [args...]

``fastlit``: the program runs through ``fastlit.run.main`` (what ``python -m fastlit.run script.py`` does), so every
``lightning``/``pytorch_lightning`` import in it and in the libraries it uses gets fastlit. ``lightning``: plain
``runpy``, the real Lightning. Both sides seed torch/numpy/random with 0 first. Nothing in the program is changed: the Trainer classes are only wrapped to record,
at exit, each Trainer's ``callback_metrics``, ``global_step``, ``current_epoch``, what ``validate``/``test``
returned, and a checksum of the trained module's parameters, into OUT.json.
"""
from __future__ import annotations

import atexit
import json
import math
import os
import runpy
import sys
import types

# The registry's torchvision wheels are CUDA builds: on CPU-only torch their C++ ops cannot load and importing
# torchvision fails while registering fake kernels for them. Skipping that registration leaves every pure-Python
# part (datasets, transforms, models, utils) working; the same on both sides.
sys.modules.setdefault("torchvision._meta_registrations", types.ModuleType("torchvision._meta_registrations"))

_records: list[dict] = []


def _num(v):
    try:
        f = float(v)
    except Exception:
        return None
    return f if math.isfinite(f) else str(f)


def _record(trainer) -> dict:
    rec = {"metrics": {}, "global_step": None, "epoch": None, "results": [], "params": None}
    _records.append(rec)
    trainer.__dict__["_client_record"] = rec
    return rec


def _finish(trainer, rec: dict) -> None:
    rec["metrics"] = {k: _num(v) for k, v in sorted(trainer.callback_metrics.items())}
    rec["global_step"] = int(trainer.global_step)
    rec["epoch"] = int(trainer.current_epoch)
    module = getattr(trainer, "lightning_module", None)
    if module is not None:
        import torch

        with torch.no_grad():
            ps = [p.detach().double() for p in module.parameters()]
            rec["params"] = {"sum": float(sum(p.sum() for p in ps)), "abs_sum": float(sum(p.abs().sum() for p in ps)),
                             "count": int(sum(p.numel() for p in ps))}


def _wrap(cls) -> None:
    if getattr(cls, "_client_wrapped", False):
        return
    cls._client_wrapped = True
    for name in ("fit", "validate", "test"):
        orig = getattr(cls, name)

        def method(self, *a, __orig=orig, __name=name, **k):
            rec = self.__dict__.get("_client_record") or _record(self)
            out = __orig(self, *a, **k)
            if __name != "fit" and out is not None:
                rec["results"].append({__name: [{m: _num(v) for m, v in sorted(d.items())} for d in out]})
            _finish(self, rec)
            return out

        setattr(cls, name, method)


def main() -> None:
    side, out, script, *args = sys.argv[1:]

    def dump() -> None:
        with open(out, "w") as f:
            json.dump({"side": side, "trainers": _records}, f, indent=1)

    atexit.register(dump)
    # scripts that never seed (Lightning's bug_report_model.py) draw the same numbers on both sides
    import random

    import numpy as np
    import torch

    random.seed(0), np.random.seed(0), torch.manual_seed(0)
    if side == "fastlit":
        import fastlit
        import fastlit.run

        _wrap(fastlit.Trainer)
        fastlit.run.main([script, *args])
    elif side == "lightning":
        import pytorch_lightning

        _wrap(pytorch_lightning.Trainer)
        try:
            import lightning.pytorch

            _wrap(lightning.pytorch.Trainer)
        except ImportError:
            pass
        sys.argv = [script, *args]
        sys.path[0] = os.path.dirname(os.path.abspath(script))
        runpy.run_path(script, run_name="__main__")
    else:
        raise SystemExit(f"unknown side {side!r}: fastlit or lightning")


if __name__ == "__main__":
    main()
