"""CSV logger: ``metrics.csv`` and ``hparams.yaml`` under ``save_dir/name/version_N`` (Lightning 2.x layout)."""

import csv
import os
from argparse import Namespace
from typing import Any, Optional, Union

from torch import Tensor

from fastlit.core.saving import save_hparams_to_yaml
from fastlit.loggers.logger import _PATH, _VersionedLogger, rank_zero_experiment
from fastlit.loggers.utilities import _add_prefix, _convert_params
from fastlit.utilities.rank_zero import rank_zero_only, rank_zero_warn


class ExperimentWriter:
    r"""Buffers metric rows and writes them to ``log_dir/metrics.csv``; writes hyperparameters to ``hparams.yaml``.

    The CSV header is the sorted union of all metric names seen so far plus ``"step"``. When a later row brings a
    new name, the file is rewritten with the wider header (earlier rows get empty cells), exactly like Lightning.

    Args:
        log_dir: folder for ``metrics.csv`` and ``hparams.yaml`` (created; an old ``metrics.csv`` there is removed).
    """

    NAME_METRICS_FILE = "metrics.csv"
    NAME_HPARAMS_FILE = "hparams.yaml"

    def __init__(self, log_dir: str) -> None:
        self.metrics: list[dict[str, Any]] = []  # rows not yet written
        self.metrics_keys: list[str] = []  # current header
        self.hparams: dict[str, Any] = {}
        self.log_dir = log_dir
        self.metrics_file_path = os.path.join(log_dir, self.NAME_METRICS_FILE)
        self._check_log_dir_exists()
        os.makedirs(log_dir, exist_ok=True)

    def log_hparams(self, params: dict[str, Any]) -> None:
        """Merge ``params`` into the stored hyperparameters and rewrite ``hparams.yaml``."""
        self.hparams.update(params)
        save_hparams_to_yaml(os.path.join(self.log_dir, self.NAME_HPARAMS_FILE), self.hparams)

    def log_metrics(self, metrics_dict: dict[str, Any], step: Optional[int] = None) -> None:
        """Buffer one row; tensors become python numbers."""
        if step is None:
            step = len(self.metrics)
        row = {k: v.item() if isinstance(v, Tensor) else v for k, v in metrics_dict.items()}
        row["step"] = step
        self.metrics.append(row)

    def save(self) -> None:
        """Append the buffered rows to ``metrics.csv`` (rewriting it first if the header grew)."""
        if not self.metrics:
            return
        new_keys = self._record_new_keys()
        file_exists = os.path.isfile(self.metrics_file_path)
        if new_keys and file_exists:
            self._rewrite_with_new_header(self.metrics_keys)
        with open(self.metrics_file_path, "a" if file_exists else "w", newline="") as file:
            writer = csv.DictWriter(file, fieldnames=self.metrics_keys)
            if not file_exists:
                writer.writeheader()
            writer.writerows(self.metrics)
        self.metrics = []

    def _record_new_keys(self) -> set[str]:
        new_keys = set().union(*self.metrics) - set(self.metrics_keys)
        self.metrics_keys.extend(new_keys)
        self.metrics_keys.sort()
        return new_keys

    def _rewrite_with_new_header(self, fieldnames: list[str]) -> None:
        with open(self.metrics_file_path, newline="") as file:
            rows = list(csv.DictReader(file))
        with open(self.metrics_file_path, "w", newline="") as file:
            writer = csv.DictWriter(file, fieldnames=fieldnames)
            writer.writeheader()
            writer.writerows(rows)

    def _check_log_dir_exists(self) -> None:
        if os.path.isdir(self.log_dir) and os.listdir(self.log_dir):
            rank_zero_warn(
                f"Experiment logs directory {self.log_dir} exists and is not empty."
                " Previous log files in this directory will be deleted when the new ones are saved!"
            )
            if os.path.isfile(self.metrics_file_path):
                os.remove(self.metrics_file_path)


class CSVLogger(_VersionedLogger):
    r"""Log to the local file system: metrics to ``metrics.csv``, hyperparameters to ``hparams.yaml``.

    Files go to ``save_dir/name/version/``.

    Args:
        save_dir: root directory for all experiments.
        name: experiment name (default ``"lightning_logs"``); ``""`` or ``None`` puts versions directly in save_dir.
        version: ``None`` picks the next free ``version_N``; an int N gives ``version_N``; a str is used verbatim.
            If that folder already holds a ``metrics.csv`` it is replaced.
        prefix: put ``prefix + "-"`` in front of every metric name.
        flush_logs_every_n_steps: write buffered rows to disk whenever ``(step + 1)`` is a multiple of this.
    """

    def __init__(
        self,
        save_dir: _PATH,
        name: Optional[str] = "lightning_logs",
        version: Optional[Union[int, str]] = None,
        prefix: str = "",
        flush_logs_every_n_steps: int = 100,
    ) -> None:
        super().__init__(save_dir, name, version)
        self._save_dir = self._root_dir  # the private name Lightning's CSVLogger (and ours before) also has
        self._prefix = prefix
        self._flush_logs_every_n_steps = flush_logs_every_n_steps
        self._experiment: Optional[ExperimentWriter] = None

    @property
    @rank_zero_experiment
    def experiment(self) -> ExperimentWriter:
        """The :class:`ExperimentWriter`, created (with its folder) on first access."""
        if self._experiment is None:
            os.makedirs(self.root_dir, exist_ok=True)
            self._experiment = ExperimentWriter(log_dir=self.log_dir)
        return self._experiment

    @rank_zero_only
    def log_hyperparams(self, params: Optional[Union[dict[str, Any], Namespace]] = None) -> None:
        self.experiment.log_hparams(_convert_params(params))

    @rank_zero_only
    def log_metrics(self, metrics: dict[str, Any], step: Optional[int] = None) -> None:
        metrics = _add_prefix(metrics, self._prefix, self.LOGGER_JOIN_CHAR)
        if step is None:
            step = len(self.experiment.metrics)  # Lightning's choice: the number of rows still buffered
        self.experiment.log_metrics(metrics, step)
        if (step + 1) % self._flush_logs_every_n_steps == 0:
            self.save()

    @rank_zero_only
    def save(self) -> None:
        self.experiment.save()

    @rank_zero_only
    def finalize(self, status: str) -> None:
        if self._experiment is None:
            return  # nothing was logged in this process: don't create an empty version folder
        self.save()


# Names Lightning's module also exports, imported on first use (see fastlit._reexport).
from fastlit._reexport import lazy_exports  # noqa: E402

__getattr__ = lazy_exports(__name__, {
    "Logger": "fastlit.loggers.logger",
})
