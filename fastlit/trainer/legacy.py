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
        elif name == "automatic_optimization":
            _deprecated(f"automatic_optimization={value!r}", "`self.automatic_optimization = ...` in your module")
            out["automatic_optimization"] = bool(value)
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


# Lightning 1.x loop hooks removed in 2.0. Their meaning on one process is unambiguous, so fastlit still calls
# them (with a DeprecationWarning naming the 2.x form) instead of refusing the script.
_HOOK_REPLACEMENTS = {
    "training_step_end": "do the work at the end of `training_step`",
    "validation_step_end": "do the work at the end of `validation_step`",
    "test_step_end": "do the work at the end of `test_step`",
    "training_epoch_end": "`on_train_epoch_end` (keep the step outputs you need on `self`)",
    "validation_epoch_end": "`on_validation_epoch_end` (keep the step outputs you need on `self`)",
    "test_epoch_end": "`on_test_epoch_end` (keep the step outputs you need on `self`)",
}


def legacy_hook(module: Any, name: str) -> Any:
    """The module's 1.x hook ``name`` (bound), or None when it does not define one."""
    if getattr(type(module), name, None) is None:
        return None
    warnings.warn(f"`{type(module).__name__}.{name}` is a Lightning 1.x hook (removed in 2.0); fastlit still calls "
                  f"it. In 2.x: {_HOOK_REPLACEMENTS[name]}.", DeprecationWarning, stacklevel=2)
    return getattr(module, name)


def with_step_end(step: Any, step_end: Any) -> Any:
    """``step`` followed by its 1.x ``*_step_end`` (whose return value replaces the step's output)."""
    if step_end is None:
        return step

    def run(*args: Any, **kwargs: Any) -> Any:
        return step_end(step(*args, **kwargs))

    return run
