"""``HyperparametersMixin``: ``save_hyperparameters()`` and ``self.hparams`` for modules and datamodules."""
from __future__ import annotations

import copy
import inspect
import types
from argparse import Namespace
from collections.abc import Iterator, MutableMapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Optional, Union

from fastlit.utilities.parsing import AttributeDict, save_hyperparameters  # noqa: F401  (Lightning exports it)


def _init_args(frame: types.FrameType) -> tuple[Any, dict[str, Any]]:
    """The ``self`` and named arguments of the ``__init__`` running in ``frame`` (``**kwargs`` merged in)."""
    info = inspect.getargvalues(frame)
    local_vars = info.locals
    code = frame.f_code
    if code.co_name != "__init__" or not info.args:
        return None, {}
    self_name = info.args[0]
    local_self = local_vars.get(self_name)
    args = {name: local_vars[name] for name in info.args[1:] if name in local_vars}
    if info.varargs and local_vars.get(info.varargs):
        args[info.varargs] = local_vars[info.varargs]
    if info.keywords:
        args.update(local_vars.get(info.keywords) or {})
    return local_self, args


def _same(value: Any, given: Any) -> bool:
    """Whether an init argument is the object given to ``save_hyperparameters`` (Lightning compares with ==)."""
    try:
        return value is given or bool(value == given)
    except Exception:  # e.g. an array argument, whose == is elementwise
        return False


def collect_init_args(frame: types.FrameType) -> dict[str, Any]:
    """Init arguments of every ``__init__`` in the ``super()`` chain of one object; the subclass's win."""
    chain: list[dict[str, Any]] = []
    owner = None
    while frame is not None and frame.f_code.co_name == "__init__":
        local_self, args = _init_args(frame)
        if owner is None:
            owner = local_self
        elif local_self is not owner:
            break
        chain.append(args)
        frame = frame.f_back
    merged: dict[str, Any] = {}
    for args in chain:  # innermost (base) first, so the outermost subclass overrides
        merged.update(args)
    return merged


# Set by LightningCLI while it builds a module: save_hyperparameters() then stores these (the parsed config, with
# class paths and the function that rebuilds it) instead of the objects __init__ received.
_given_hyperparameters: ContextVar[Optional[dict[str, Any]]] = ContextVar("_given_hyperparameters", default=None)


@contextmanager
def _given_hyperparameters_context(hparams: dict[str, Any], instantiator: str) -> Iterator[None]:
    """While active, ``save_hyperparameters()`` saves ``hparams`` plus ``_instantiator`` (an import path that
    ``load_from_checkpoint`` calls to rebuild the object)."""
    token = _given_hyperparameters.set({**hparams, "_instantiator": instantiator})
    try:
        yield
    finally:
        _given_hyperparameters.reset(token)


class HyperparametersMixin:
    """Adds ``save_hyperparameters``, ``hparams`` and ``hparams_initial``."""

    __jit_unused_properties__: list[str] = ["hparams", "hparams_initial"]

    def __init__(self) -> None:
        super().__init__()
        self._log_hyperparams = False

    def save_hyperparameters(
        self,
        *args: Any,
        ignore: Optional[Union[Sequence[str], str]] = None,
        frame: Optional[types.FrameType] = None,
        logger: bool = True,
    ) -> None:
        """Store the ``__init__`` arguments (or the named ones) in ``self.hparams`` and in checkpoints.

        Args:
            *args: names of init arguments to keep, or one dict/Namespace to store; none means all of them.
            ignore: init argument names to leave out (e.g. whole ``nn.Module`` arguments).
            frame: the frame to read the arguments from (default: the caller's).
            logger: whether the loggers receive these hyperparameters.
        """
        self._log_hyperparams = logger
        if len(args) == 1 and not isinstance(args[0], str) and not args[0]:
            return  # an empty container: nothing saved, nothing replaced (as Lightning)
        if frame is None:
            current = inspect.currentframe()
            frame = current.f_back if current is not None else None
        given = _given_hyperparameters.get()
        if given is not None:
            init_args = dict(given)
        else:
            init_args = collect_init_args(frame) if frame is not None else {}
        if isinstance(ignore, str):
            ignore = [ignore]
        ignore = [a for a in (ignore or []) if isinstance(a, str)]
        for name in ignore:
            init_args.pop(name, None)
        if len(args) == 1 and not isinstance(args[0], str):
            hp = given = args[0]
            if isinstance(hp, Namespace):
                hp = vars(hp)
            if not isinstance(hp, (dict, MutableMapping)):
                raise ValueError(f"save_hyperparameters: unsupported type {type(hp).__name__}; pass a dict, a "
                                 "Namespace, or names of __init__ arguments.")
            names = [k for k, v in init_args.items() if _same(v, given)]
            self._set_hparams(dict(hp))
            self._hparams_name = names[0] if names else None
            self.remove_ignored_hparams(ignore)
            self._hparams_initial = copy.deepcopy(self._hparams)
            return
        if args:
            missing = [a for a in args if a not in init_args]
            if missing:
                raise ValueError(f"save_hyperparameters: {missing} are not arguments of __init__; "
                                 f"available: {sorted(init_args)}")
            init_args = {k: init_args[k] for k in args}
        self._hparams_name = "kwargs" if init_args else None
        self._set_hparams(init_args)
        self.remove_ignored_hparams(ignore)  # a subclass may drop what its base class saved
        try:
            self._hparams_initial = copy.deepcopy(self._hparams)
        except Exception:  # objects that cannot be copied are kept by reference
            self._hparams_initial = copy.copy(self._hparams)

    def _set_hparams(self, hp: dict[str, Any]) -> None:
        # a second save_hyperparameters() call adds to (and overrides keys of) what an earlier one saved
        if isinstance(self.hparams, dict):
            self.hparams.update(hp)
        else:
            self._hparams = AttributeDict(hp)

    def remove_ignored_hparams(self, ignore_list: list[str]) -> None:
        """Drop ``ignore_list`` from the saved hyperparameters (a subclass undoing its base class's save)."""
        for key in ignore_list:
            self.hparams.pop(key, None)

    @property
    def hparams(self) -> AttributeDict:
        """The saved hyperparameters (mutable)."""
        if not hasattr(self, "_hparams"):
            self._hparams = AttributeDict()
        return self._hparams

    @property
    def hparams_initial(self) -> AttributeDict:
        """A copy of the hyperparameters as first saved (what loggers record)."""
        if not hasattr(self, "_hparams_initial"):
            return AttributeDict()
        return copy.deepcopy(self._hparams_initial)

