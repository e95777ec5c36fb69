"""Which optional arguments a user's hook accepts, decided from its signature (once per run, never per step).

Lightning hands ``batch_idx`` to ``training_step``/``validation_step``/``test_step``/``predict_step`` only when the
method can take it, so ``def training_step(self, batch)`` is valid. The loops ask ``step_takes_batch_idx`` once
when a run starts and then call the step one way or the other.
"""
from __future__ import annotations

import inspect
from typing import Callable, Optional


def is_param_in_hook_signature(hook_fx: Callable, param: str, explicit: bool = False,
                               min_args: Optional[int] = None) -> bool:
    """Whether ``hook_fx`` (a bound method) can receive ``param`` positionally.

    True when ``param`` is one of its positional parameters, or (unless ``explicit``) it has ``*args``, or it has
    at least ``min_args`` positional parameters besides ``self`` (then the name does not matter: the second one is
    taken to be ``batch_idx``). Keyword-only parameters and ``**kwargs`` do not count: the loops pass positionally.
    A decorated hook is judged by the function it wraps (``__wrapped__``).
    """
    fn = getattr(hook_fx, "__wrapped__", hook_fx)
    spec = inspect.getfullargspec(fn)
    # getfullargspec keeps the bound `self` of a method (and a decorator's __wrapped__ is the plain function)
    positional = spec.args[1:]
    return (param in positional
            or (not explicit and spec.varargs is not None)
            or (isinstance(min_args, int) and len(positional) >= min_args))


def step_takes_batch_idx(step_fx: Callable) -> bool:
    """Whether a ``*_step`` method is called with ``batch_idx`` after the batch (Lightning's rule)."""
    return is_param_in_hook_signature(step_fx, "batch_idx", min_args=2)
