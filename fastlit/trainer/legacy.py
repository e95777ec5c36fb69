"""Lightning 1.x arguments that tutorials still use, mapped to their 2.x meaning with a DeprecationWarning.

Anything else unknown is an error that names the argument (and the closest valid one).
"""
from __future__ import annotations

import difflib
import warnings
from typing import Any

from fastlit.utilities.exceptions import MisconfigurationException


def _deprecated(old: str, new: str) -> None:
    warnings.warn(f"`Trainer({old})` is a Lightning 1.x argument; fastlit maps it to `{new}`. Use that instead.",
                  DeprecationWarning, stacklevel=4)


def map_trainer_kwargs(kwargs: dict[str, Any], known: list[str]) -> dict[str, Any]:
    """Translate 1.x Trainer kwargs; raise ``TypeError`` for unknown names."""
    out: dict[str, Any] = {}
    for name, value in kwargs.items():
        if name == "gpus":
            _deprecated(f"gpus={value!r}", "accelerator='gpu', devices=N" if value else "accelerator='cpu'")
            if value in (None, 0, "0", [], ""):
                out["accelerator"] = "cpu"
            else:
                out["accelerator"] = "gpu"
                out["devices"] = value
        elif name == "resume_from_checkpoint":
            _deprecated("resume_from_checkpoint=PATH", "trainer.fit(model, ckpt_path=PATH)")
            out["ckpt_path"] = value
        elif name == "checkpoint_callback":
            _deprecated(f"checkpoint_callback={value!r}", f"enable_checkpointing={bool(value)}")
            out["enable_checkpointing"] = bool(value)
        elif name in ("distributed_backend", "accelerator_backend"):
            _deprecated(f"{name}={value!r}", f"strategy={value!r}")
            out["strategy"] = value
        elif name == "progress_bar_refresh_rate":
            _deprecated(f"progress_bar_refresh_rate={value!r}",
                        "callbacks=[TQDMProgressBar(refresh_rate=N)] or enable_progress_bar=False")
            if not value:
                out["enable_progress_bar"] = False
        elif name in ("auto_scale_batch_size", "auto_lr_find"):  # acted on by trainer.tune() (1.x), see tuner/
            _deprecated(f"{name}={value!r}", "Tuner(trainer).scale_batch_size(model, mode=...)"
                        if name == "auto_scale_batch_size" else "Tuner(trainer).lr_find(model)")
            out[name] = value
        elif name == "weights_summary":
            _deprecated(f"weights_summary={value!r}", "enable_model_summary=..., or callbacks=[ModelSummary(max_depth)]")
            if value is None:
                out["enable_model_summary"] = False
        else:
            close = difflib.get_close_matches(name, known, n=1)
            hint = f" Did you mean `{close[0]}`?" if close else ""
            raise TypeError(f"Trainer.__init__() got an unexpected keyword argument '{name}'.{hint}")
    return out


def map_eval_kwargs(fn: str, kwargs: dict[str, Any], dataloaders: Any) -> Any:
    """``trainer.test(test_dataloaders=...)`` (1.x) is ``dataloaders=``."""
    for name, value in kwargs.items():
        if name in (f"{fn}_dataloaders", "test_dataloaders", "val_dataloaders"):
            warnings.warn(f"`trainer.{fn}({name}=...)` is a Lightning 1.x argument; use `dataloaders=`.",
                          DeprecationWarning, stacklevel=3)
            if dataloaders is not None:
                raise MisconfigurationException(f"Pass either `dataloaders=` or `{name}=` to `trainer.{fn}()`, not both.")
            dataloaders = value
        else:
            raise TypeError(f"Trainer.{fn}() got an unexpected keyword argument '{name}'")
    return dataloaders
