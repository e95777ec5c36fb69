"""Base class for experiment loggers, plus the dummy logger/experiment used off rank zero (Lightning 2.x API)."""

import functools
import operator
import os
import statistics
from abc import ABC, abstractmethod
from argparse import Namespace
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any, Callable, Optional, Union

from torch import Tensor
from torch.nn import Module

from fastlit.loggers.utilities import _next_version
from fastlit.utilities.rank_zero import rank_zero_only

_PATH = Union[str, "os.PathLike[str]"]


class Logger(ABC):
    """Base class for experiment loggers.

    Subclasses implement ``name``, ``version``, ``log_metrics`` and ``log_hyperparams``; everything else has a
    sensible default (no local directory, no graph logging, ``finalize`` calls ``save``).
    """

    @property
    @abstractmethod
    def name(self) -> Optional[str]:
        """The experiment name."""

    @property
    @abstractmethod
    def version(self) -> Optional[Union[int, str]]:
        """The experiment version."""

    @property
    def root_dir(self) -> Optional[str]:
        """Directory holding all versions of the experiment, or ``None`` when nothing is saved locally."""
        return None

    @property
    def log_dir(self) -> Optional[str]:
        """Directory of the current version, or ``None`` when nothing is saved locally."""
        return None

    @property
    def save_dir(self) -> Optional[str]:
        """Root directory the logger saves into, or ``None`` when nothing is saved locally."""
        return None

    @property
    def group_separator(self) -> str:
        """Separator used to group metric names into sections."""
        return "/"

    @abstractmethod
    def log_metrics(self, metrics: dict[str, float], step: Optional[int] = None) -> None:
        """Record ``metrics`` (name -> value) at ``step``."""

    @abstractmethod
    def log_hyperparams(self, params: Union[dict[str, Any], Namespace], *args: Any, **kwargs: Any) -> None:
        """Record hyperparameters given as a dict or ``Namespace``."""

    def log_graph(self, model: Module, input_array: Optional[Tensor] = None) -> None:
        """Record the model's computational graph (no-op unless a logger supports it)."""

    def save(self) -> None:
        """Write pending data to storage."""

    def finalize(self, status: str) -> None:
        """Finish the experiment; ``status`` is e.g. ``"success"``, ``"failed"`` or ``"finished"``."""
        self.save()

    def after_save_checkpoint(self, checkpoint_callback: Any) -> None:
        """Called by the trainer after the checkpoint callback wrote a new checkpoint."""


class _VersionedLogger(Logger):
    """A logger that writes under ``save_dir/name/version_N``: the folder layout TensorBoardLogger and CSVLogger share.

    Args:
        save_dir: root directory for all experiments.
        name: experiment name; ``""`` or ``None`` puts the versions directly in ``save_dir``.
        version: ``None`` picks the next free ``version_N``; an int N gives ``version_N``; a str is used verbatim.
    """

    LOGGER_JOIN_CHAR = "-"  # between ``prefix`` and a metric name

    def __init__(self, save_dir: _PATH, name: Optional[str], version: Optional[Union[int, str]]) -> None:
        super().__init__()
        self._root_dir = os.fspath(save_dir)
        self._name = name or ""
        self._version = version

    @property
    def name(self) -> str:
        return self._name

    @property
    def version(self) -> Union[int, str]:
        # resolved on first use, so several loggers created before any folder exists don't all claim version_0
        if self._version is None:
            self._version = _next_version(self.root_dir)
        return self._version

    @property
    def save_dir(self) -> str:
        return self._root_dir

    @property
    def root_dir(self) -> str:
        """``save_dir/name``: the folder holding all versions of this experiment."""
        return os.path.join(self._root_dir, self.name)

    @property
    def log_dir(self) -> str:
        """``root_dir/version_N`` (or ``root_dir/<version str>``)."""
        version = self.version if isinstance(self.version, str) else f"version_{self.version}"
        return os.path.join(self.root_dir, version)


class _DummyExperiment:
    """Stands in for a real experiment object: every attribute is a method that does nothing."""

    def nop(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __getattr__(self, _: Any) -> Callable:
        return self.nop

    def __getitem__(self, idx: int) -> "_DummyExperiment":
        # so that `logger.experiment[0].add_image(...)` works too
        return self

    def __setitem__(self, *args: Any, **kwargs: Any) -> None:
        pass


DummyExperiment = _DummyExperiment  # public name kept by Lightning for backward compatibility


def rank_zero_experiment(fn: Callable) -> Callable:
    """Decorate an ``experiment`` getter so that ranks other than zero get a ``_DummyExperiment``."""

    @functools.wraps(fn)
    def experiment(self: Logger) -> Any:
        if rank_zero_only.rank > 0:
            return _DummyExperiment()
        return fn(self)

    return experiment


class DummyLogger(Logger):
    """A logger that records nothing; any method called on it is accepted and ignored."""

    def __init__(self) -> None:
        super().__init__()
        self._experiment = _DummyExperiment()

    @property
    def experiment(self) -> _DummyExperiment:
        return self._experiment

    def log_metrics(self, *args: Any, **kwargs: Any) -> None:
        pass

    def log_hyperparams(self, *args: Any, **kwargs: Any) -> None:
        pass

    @property
    def name(self) -> str:
        return ""

    @property
    def version(self) -> str:
        return ""

    def __getitem__(self, idx: int) -> "DummyLogger":
        return self

    def __getattr__(self, name: str) -> Callable:
        # unknown attributes become no-op methods so user code written for a real logger keeps running
        def method(*args: Any, **kwargs: Any) -> None:
            return None

        return method


def merge_dicts(
    dicts: Sequence[Mapping],
    agg_key_funcs: Optional[Mapping] = None,
    default_func: Callable[[Sequence[float]], float] = statistics.mean,
) -> dict:
    """Merge dicts key by key, aggregating the values found for a key with ``agg_key_funcs[key]`` or ``default_func``.

    Nested dicts are merged recursively (``agg_key_funcs[key]`` is then the nested mapping of functions);
    ``None`` values are ignored.
    """
    agg_key_funcs = agg_key_funcs or {}
    merged: dict = defaultdict(dict)
    for key in functools.reduce(operator.or_, [set(d) for d in dicts]):
        values = [d[key] for d in dicts if d.get(key) is not None]
        fn = agg_key_funcs.get(key)
        if isinstance(values[0], dict):
            merged[key] = merge_dicts(values, fn, default_func)
        else:
            merged[key] = (fn or default_func)(values)
    return dict(merged)


# Names Lightning's module also exports, imported on first use (see fastlit._reexport).
from fastlit._reexport import lazy_exports  # noqa: E402

__getattr__ = lazy_exports(__name__, {
    "ModelCheckpoint": "fastlit.callbacks.model_checkpoint",
})
