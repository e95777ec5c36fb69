"""Lightning's ``utilities.argparse``: ``PL_<CLASS>_<ARGUMENT>`` environment variables as argument defaults
(``PL_TRAINER_MAX_STEPS=7`` makes ``Trainer()`` use ``max_steps=7``; an argument passed explicitly wins)."""
from __future__ import annotations

import functools
import inspect
import os
from argparse import Namespace
from ast import literal_eval
from typing import Any, Callable, TypeVar

_T = TypeVar("_T", bound=Callable[..., Any])


def _parse_env_variables(cls: type, template: str = "PL_%(cls_name)s_%(cls_argument)s") -> Namespace:
    """The ``cls`` arguments set through the environment (values read as Python literals when they parse)."""
    env_args = {}
    for name, param in inspect.signature(cls).parameters.items():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        val = os.environ.get(template % {"cls_name": cls.__name__.upper(), "cls_argument": name.upper()})
        if val is None or val == "":
            continue
        try:
            val = literal_eval(val)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            pass  # keep the string
        env_args[name] = val
    return Namespace(**env_args)


def _defaults_from_env_vars(fn: _T) -> _T:
    """Decorate ``__init__``: arguments not passed come from ``PL_<CLASS>_<ARG>`` when set."""

    @functools.wraps(fn)
    def insert_env_defaults(self: Any, *args: Any, **kwargs: Any) -> Any:
        cls = self.__class__
        if args:  # positional arguments become keywords so the environment cannot override them
            names = [n for n, p in inspect.signature(cls).parameters.items()
                     if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
            kwargs.update(zip(names, args))
        env = vars(_parse_env_variables(cls))
        if env:
            kwargs = {**env, **kwargs}
        return fn(self, **kwargs)

    return insert_env_defaults  # type: ignore[return-value]
