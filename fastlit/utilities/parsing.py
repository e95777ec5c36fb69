"""Hyperparameter helpers: ``AttributeDict``, reading ``__init__`` arguments from a frame, and the tuner's
attribute lookup across model, hparams and datamodule."""
from __future__ import annotations

import dataclasses
import inspect
import types
from collections.abc import MutableMapping, Sequence
from typing import Any, Optional, Union

from fastlit.utilities.rank_zero import rank_zero_warn


class AttributeDict(dict):
    """A dict whose keys are also attributes: ``d.lr`` is ``d["lr"]``."""

    def __getattr__(self, key: str) -> Any:
        try:
            return self[key]
        except KeyError as e:
            raise AttributeError(f"'{type(self).__name__}' object has no attribute '{key}'") from e

    def __setattr__(self, key: str, val: Any) -> None:
        self[key] = val

    def __delattr__(self, key: str) -> None:
        del self[key]

    def __repr__(self) -> str:
        if not self:
            return ""
        width = max(len(str(k)) for k in self)
        return "\n".join(f'"{k}":'.ljust(width + 3) + f" {v}" for k, v in sorted(self.items(), key=lambda kv: str(kv[0])))


# ------------------------------------------------------------------------------------------ init arguments


def is_picklable(obj: object) -> bool:
    """Whether ``pickle.dumps(obj)`` succeeds."""
    import pickle

    try:
        pickle.dumps(obj)
        return True
    except (pickle.PickleError, AttributeError, RuntimeError, TypeError):
        return False


def clean_namespace(hparams: MutableMapping) -> None:
    """Drop (with a warning) every entry of ``hparams`` that cannot be pickled, in place."""
    for key in [k for k, v in hparams.items() if not is_picklable(v)]:
        rank_zero_warn(f"Attribute '{key}' removed from hparams because it cannot be pickled. You can suppress this "
                       f"warning by setting `self.save_hyperparameters(ignore=['{key}'])`.")
        del hparams[key]


def parse_class_init_keys(cls: type) -> tuple[str, Optional[str], Optional[str]]:
    """The names ``cls.__init__`` gives to ``self``, ``*args`` and ``**kwargs`` (None when absent)."""
    params = list(inspect.signature(cls.__init__).parameters.values())  # type: ignore[misc]
    var_args = next((p.name for p in params if p.kind == inspect.Parameter.VAR_POSITIONAL), None)
    var_kwargs = next((p.name for p in params if p.kind == inspect.Parameter.VAR_KEYWORD), None)
    return params[0].name, var_args, var_kwargs


def _frame_init_args(frame: types.FrameType) -> tuple[Any, dict[str, Any]]:
    """``self`` and the named arguments of the ``__init__`` running in ``frame`` (``**kwargs`` merged in);
    ``(None, {})`` for any other frame. Only ``__init__`` methods that use ``super()``/``__class__`` qualify,
    as in Lightning (that is how the defining class is known)."""
    local_vars = frame.f_locals
    if "__class__" not in local_vars or frame.f_code.co_name != "__init__":
        return None, {}
    cls = local_vars["__class__"]
    self_name, args_name, kwargs_name = parse_class_init_keys(cls)
    args = {k: local_vars[k] for k in inspect.signature(cls.__init__).parameters if k in local_vars}
    if kwargs_name:
        args.update(args.get(kwargs_name, {}))
    skip = {self_name, args_name, kwargs_name, "__class__", "frame", "frame_args"}
    return local_vars.get(self_name), {k: v for k, v in args.items() if k not in skip}


def get_init_args(frame: types.FrameType) -> dict[str, Any]:
    """The arguments of the ``__init__`` running in ``frame`` (empty for any other frame)."""
    return _frame_init_args(frame)[1]


def collect_init_args(frame: types.FrameType, path_args: list[dict[str, Any]], inside: bool = False,
                      classes: tuple[type, ...] = ()) -> list[dict[str, Any]]:
    """The arguments of every ``__init__`` in the ``super()`` chain running at ``frame`` and above, appended to
    ``path_args`` from the innermost (the base class) outwards; only ``self`` objects of ``classes`` count."""
    while isinstance(frame.f_back, types.FrameType):
        local_self, local_args = _frame_init_args(frame)
        if "__class__" in frame.f_locals and (not classes or isinstance(local_self, classes)):
            path_args.append(local_args)
            inside = True
        elif inside:
            break
        frame = frame.f_back
    return path_args


def save_hyperparameters(obj: Any, *args: Any, ignore: Optional[Union[Sequence[str], str]] = None,
                         frame: Optional[types.FrameType] = None, given_hparams: Optional[dict[str, Any]] = None
                         ) -> None:
    """``obj.save_hyperparameters(...)`` as a function: the init arguments read from ``frame`` (default: the
    caller's), or ``given_hparams``, or a dataclass's init fields, minus ``ignore``."""
    if frame is None:
        current = inspect.currentframe()
        frame = current.f_back if current is not None else None
    if not isinstance(frame, types.FrameType):
        raise AttributeError("There is no `frame` available while being required.")
    ignore_list = [ignore] if isinstance(ignore, str) else [a for a in (ignore or []) if isinstance(a, str)]
    if given_hparams is None and dataclasses.is_dataclass(obj):
        given_hparams = {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj) if f.init}
    if given_hparams is None:
        # the mixin reads the __init__ chain from the frame itself
        obj.save_hyperparameters(*args, ignore=ignore_list, frame=frame)
        return
    hp = {k: v for k, v in given_hparams.items() if k not in ignore_list}
    if args:
        hp = {k: hp[k] for k in args if isinstance(k, str) and k in hp}
    obj.save_hyperparameters(hp)
    obj._hparams_name = "kwargs" if hp else None


# ------------------------------------------------------------------------------ attributes the tuner sets


def _attr_holders(model: Any, name: str) -> list[Any]:
    """Where ``name`` lives: the model, ``model.hparams``, the datamodule, ``datamodule.hparams`` (in that order)."""
    holders: list[Any] = []
    if hasattr(model, name):
        holders.append(model)
    if hasattr(model, "hparams") and name in model.hparams:
        holders.append(model.hparams)
    trainer = getattr(model, "_trainer", None)
    dm = getattr(trainer, "datamodule", None) if trainer is not None else None
    if dm is not None:
        if hasattr(dm, name):
            holders.append(dm)
        if hasattr(dm, "hparams") and name in dm.hparams:
            holders.append(dm.hparams)
    return holders


def lightning_hasattr(model: Any, name: str) -> bool:
    """Whether ``name`` is on the model, its hparams, the datamodule or the datamodule's hparams."""
    return bool(_attr_holders(model, name))


def lightning_getattr(model: Any, name: str) -> Any:
    """``name``'s value from the last place that has it (Lightning's precedence: the datamodule wins)."""
    holders = _attr_holders(model, name)
    if not holders:
        raise AttributeError(f"{name} is neither stored in the model namespace nor the `hparams` namespace/dict, nor "
                             "the datamodule.")
    holder = holders[-1]
    return holder[name] if isinstance(holder, dict) else getattr(holder, name)


def lightning_setattr(model: Any, name: str, value: Any) -> None:
    """Set ``name`` everywhere it lives, so the model and the datamodule agree."""
    holders = _attr_holders(model, name)
    if not holders:
        raise AttributeError(f"{name} is neither stored in the model namespace nor the `hparams` namespace/dict, nor "
                             "the datamodule.")
    for holder in holders:
        if isinstance(holder, dict):
            holder[name] = value
        else:
            setattr(holder, name, value)
