"""Stand-ins for Lightning names whose feature fastlit does not have (yet).

A Lightning script often imports more than it uses (``from lightning.pytorch.strategies import DeepSpeedStrategy``
next to the DDP code path it really runs), and libraries check ``isinstance(strategy, FSDPStrategy)``. So every
Lightning name exists under fastlit: a placeholder *class* can be imported, subclassed and used in ``isinstance``
checks (always False: no instance can exist), and a placeholder *function* can be imported. Creating an instance or
calling the function raises :class:`NotSupportedError`, whose message names what is missing and what to use instead
-- the way Lightning itself refuses a feature whose optional package is absent.

One helper builds them all, so every message reads the same and tests can find every placeholder
(``is_placeholder``) and check that each really refuses to run.
"""
from __future__ import annotations

from typing import Any, Callable, NoReturn

from fastlit.utilities.exceptions import MisconfigurationException

__all__ = ["NotSupportedError", "is_placeholder", "placeholder_class", "placeholder_function", "reason"]

# The marker attribute: the full error message. Lives on the class / function object itself.
_MARK = "__fastlit_placeholder__"


class NotSupportedError(MisconfigurationException, NotImplementedError):
    """A Lightning feature fastlit does not provide. Catchable as ``MisconfigurationException`` (what Lightning
    raises for a misconfigured feature) and as ``NotImplementedError``."""


def _message(module: str, name: str, missing: str, instead: str) -> str:
    # e.g. "fastlit.strategies.DeepSpeedStrategy is not available: fastlit does not support DeepSpeed yet.
    #       Use strategy='ddp' (fastlit.strategies.DDPStrategy) instead."
    lightning_path = "lightning.pytorch" + module[len("fastlit"):]
    msg = f"`{name}` ({lightning_path}.{name}) is not available in fastlit: {missing}."
    if instead:
        msg += f" {instead}"
    return msg


def placeholder_class(module: str, name: str, missing: str, instead: str = "", bases: tuple[type, ...] = (),
                      doc: str = "") -> type:
    """A class named ``name`` (in ``module``) that refuses to be instantiated.

    Args:
        module: the fastlit module it belongs to (pass ``__name__``), so it pickles/prints under the right path.
        name: the Lightning class name.
        missing: what fastlit lacks, as a clause: ``"fastlit does not support DeepSpeed yet"``.
        instead: what to do instead, one or two sentences.
        bases: Lightning's base classes where fastlit has them, so ``issubclass`` answers like Lightning's.
        doc: an optional first docstring line (what the class is in Lightning).
    """
    message = _message(module, name, missing, instead)

    def __new__(cls: type, *args: Any, **kwargs: Any) -> NoReturn:
        # in __new__ (not __init__) so a user subclass that overrides __init__ refuses too
        raise NotSupportedError(message)

    def __init__(self: Any, *args: Any, **kwargs: Any) -> NoReturn:  # for subclasses that bypass __new__
        raise NotSupportedError(message)

    namespace = {
        "__module__": module, "__qualname__": name, "__new__": __new__, "__init__": __init__, _MARK: message,
        "__doc__": (doc + "\n\n" if doc else "") + f"Placeholder: {message}",
    }
    bases = bases or (object,)
    return type(bases[0])(name, bases, namespace)


def placeholder_function(module: str, name: str, missing: str, instead: str = "", doc: str = "") -> Callable[..., Any]:
    """A function named ``name`` (in ``module``) that raises :class:`NotSupportedError` when called."""
    message = _message(module, name, missing, instead)

    def placeholder(*args: Any, **kwargs: Any) -> NoReturn:
        raise NotSupportedError(message)

    placeholder.__name__ = placeholder.__qualname__ = name
    placeholder.__module__ = module
    placeholder.__doc__ = (doc + "\n\n" if doc else "") + f"Placeholder: {message}"
    setattr(placeholder, _MARK, message)
    return placeholder


def is_placeholder(obj: Any) -> bool:
    """Whether ``obj`` is a placeholder made here (not a subclass of one: those are the user's own classes)."""
    return _MARK in getattr(obj, "__dict__", {})


# The recurring reasons, so the messages of one family read the same.
_REASONS: dict[str, tuple[str, str]] = {
    "xla": ("fastlit does not support TPUs / XLA (torch_xla)",
            "Train on CPU or CUDA: Trainer(accelerator='cpu' | 'cuda')."),
    "hpu": ("Habana HPUs are not supported (Lightning 2.x moved them to the `lightning-habana` package, which "
            "builds on Lightning itself)", "Train on CPU or CUDA: Trainer(accelerator='cpu' | 'cuda')."),
    "tpu": ("the TPU classes were removed in Lightning 2.0 and fastlit does not support TPUs / XLA",
            "Train on CPU or CUDA: Trainer(accelerator='cpu' | 'cuda')."),
    "deepspeed": ("fastlit does not support DeepSpeed yet",
                  "Use Trainer(strategy='ddp') (fastlit.strategies.DDPStrategy) for multi-process training."),
    "fsdp": ("fastlit does not support FSDP (fully sharded data parallel) yet",
             "Use Trainer(strategy='ddp') (fastlit.strategies.DDPStrategy) for multi-process training."),
    "model_parallel": ("fastlit does not support tensor/model parallelism (ModelParallelStrategy) yet",
                       "Use Trainer(strategy='ddp') (fastlit.strategies.DDPStrategy)."),
    "precision_plugin": ("fastlit does not take precision plugin objects",
                         "Pass the precision to the Trainer instead: Trainer(precision='16-mixed' | 'bf16-mixed' | "
                         "'16-true' | 'bf16-true' | '32-true' | '64-true')."),
    "quantization": ("fastlit does not support bitsandbytes / Transformer Engine precision",
                     "Use Trainer(precision='16-mixed' | 'bf16-mixed' | 'bf16-true')."),
    "logger": ("fastlit has no integration for this experiment tracker yet",
               "Use fastlit.loggers.TensorBoardLogger (the default) or CSVLogger, or send metrics to the tracker "
               "from a Callback."),
    "loop_internals": ("Lightning's loop internals (closures, loop result types) are not part of fastlit, whose "
                       "training loop is fastlit.trainer.fit_loop",
                       "Use the LightningModule / Callback hooks instead."),
    "legacy_checkpoint": ("fastlit does not upgrade Lightning 1.x checkpoints",
                          "Upgrade the file once with Lightning (`python -m lightning.pytorch.utilities."
                          "upgrade_checkpoint PATH`); fastlit loads Lightning 2.x checkpoints."),
    "model_registry": ("fastlit does not download models from Lightning's model registry (litmodels)",
                       "Download the checkpoint yourself and pass its path as ckpt_path."),
}


def reason(key: str) -> tuple[str, str]:
    """``(missing, instead)`` of a recurring reason: ``placeholder_class(__name__, "X", *reason("xla"))``."""
    return _REASONS[key]
