"""TensorBoard logger: event files under ``save_dir/name/version_N`` plus ``hparams.yaml`` (Lightning 2.x layout).

tensorboard itself is imported only when the ``SummaryWriter`` is first needed, so ``import fastlit`` stays cheap.
"""

import importlib.util
import os
from argparse import Namespace
from typing import TYPE_CHECKING, Any, Optional, Union

from torch import Tensor
from torch.nn import Module

from fastlit.core.saving import save_hparams_to_yaml
from fastlit.loggers.logger import _PATH, _VersionedLogger, rank_zero_experiment
from fastlit.loggers.utilities import _add_prefix, _convert_params, _flatten_dict, _sanitize_params
from fastlit.utilities.rank_zero import rank_zero_only, rank_zero_warn

if TYPE_CHECKING:
    from torch.utils.tensorboard import SummaryWriter


def _tensorboard_available() -> bool:
    return importlib.util.find_spec("tensorboard") is not None


def _tensorboardx_available() -> bool:
    return importlib.util.find_spec("tensorboardX") is not None


class TensorBoardLogger(_VersionedLogger):
    r"""Log to the local file system in TensorBoard format (the default logger of ``Trainer``).

    Files go to ``save_dir/name/version/[sub_dir/]``: the event files and ``hparams.yaml``.

    Args:
        save_dir: root directory for all experiments.
        name: experiment name (default ``"lightning_logs"``); ``""`` or ``None`` puts versions directly in save_dir.
        version: ``None`` picks the next free ``version_N``; an int N gives ``version_N``; a str is used verbatim.
        log_graph: add the model graph (needs ``model.example_input_array``) when the trainer calls ``log_graph``.
        default_hp_metric: log the placeholder metric ``hp_metric = -1`` when hyperparameters are logged without
            metrics, so TensorBoard's HPARAMS tab shows the run.
        prefix: put ``prefix + "-"`` in front of every metric name.
        sub_dir: optional sub-folder of the version folder for the event files and ``hparams.yaml``.
        \**kwargs: passed on to ``torch.utils.tensorboard.SummaryWriter`` (e.g. ``max_queue``, ``flush_secs``).
    """

    NAME_HPARAMS_FILE = "hparams.yaml"

    def __init__(
        self,
        save_dir: _PATH,
        name: Optional[str] = "lightning_logs",
        version: Optional[Union[int, str]] = None,
        log_graph: bool = False,
        default_hp_metric: bool = True,
        prefix: str = "",
        sub_dir: Optional[_PATH] = None,
        **kwargs: Any,
    ) -> None:
        if not _tensorboard_available() and not _tensorboardx_available():
            raise ModuleNotFoundError(
                "TensorBoardLogger needs `tensorboard` (or `tensorboardX`): `pip install tensorboard`,"
                " or use `CSVLogger` / `Trainer(logger=False)`."
            )
        super().__init__(save_dir, name, version)
        self._sub_dir = None if sub_dir is None else os.fspath(sub_dir)
        self._default_hp_metric = default_hp_metric
        self._prefix = prefix
        self._kwargs = kwargs
        self._experiment: Optional["SummaryWriter"] = None
        if log_graph and not _tensorboard_available():
            rank_zero_warn("You set `TensorBoardLogger(log_graph=True)` but `tensorboard` is not available.")
        self._log_graph = log_graph and _tensorboard_available()
        self.hparams: Union[dict[str, Any], Namespace] = {}

    @property
    def log_dir(self) -> str:
        """``root_dir/version_N`` (or ``root_dir/<version str>``) [+ ``sub_dir``], with ``~`` and ``$VARS`` expanded."""
        log_dir = super().log_dir
        if isinstance(self.sub_dir, str):
            log_dir = os.path.join(log_dir, self.sub_dir)
        return os.path.expanduser(os.path.expandvars(log_dir))

    @property
    def sub_dir(self) -> Optional[str]:
        return self._sub_dir

    @property
    @rank_zero_experiment
    def experiment(self) -> "SummaryWriter":
        """The ``SummaryWriter``, created (with its folder) on first access."""
        if self._experiment is not None:
            return self._experiment
        assert rank_zero_only.rank == 0, "tried to create the TensorBoard writer on a rank other than 0"
        if self.root_dir:
            os.makedirs(self.root_dir, exist_ok=True)
        if _tensorboard_available():
            from torch.utils.tensorboard import SummaryWriter
        else:
            from tensorboardX import SummaryWriter  # type: ignore[no-redef]
        self._experiment = SummaryWriter(log_dir=self.log_dir, **self._kwargs)
        return self._experiment

    @rank_zero_only
    def log_metrics(self, metrics: dict[str, Any], step: Optional[int] = None) -> None:
        metrics = _add_prefix(metrics, self._prefix, self.LOGGER_JOIN_CHAR)
        for key, value in metrics.items():
            if isinstance(value, Tensor):
                value = value.item()
            if isinstance(value, dict):
                self.experiment.add_scalars(key, value, step)
                continue
            try:
                self.experiment.add_scalar(key, value, step)
            except Exception as ex:
                raise ValueError(
                    f"\n you tried to log {value} which is currently not supported. Try a dict or a scalar/tensor."
                ) from ex

    @rank_zero_only
    def log_hyperparams(
        self,
        params: Union[dict[str, Any], Namespace],
        metrics: Optional[dict[str, Any]] = None,
        step: Optional[int] = None,
    ) -> None:
        """Store ``params`` for ``hparams.yaml`` and write them to TensorBoard's HPARAMS plugin.

        Args:
            params: the hyperparameters (dict or ``Namespace``; nested dicts are flattened with ``/``).
            metrics: metrics to associate with them; a bare number means ``{"hp_metric": number}``.
                Without metrics, ``hp_metric = -1`` is logged when ``default_hp_metric`` is on; otherwise the
                hyperparameters only go to ``hparams.yaml``.
            step: step for those metrics.
        """
        params = _convert_params(params)
        if _is_omegaconf_container(params):
            from omegaconf import OmegaConf

            self.hparams = OmegaConf.merge(self.hparams, params)
        else:
            self.hparams.update(params)

        flat = _sanitize_params(_flatten_dict(params))
        # arrays of dim > 1 can't be shown by the HPARAMS plugin
        flat = {k: str(v) if getattr(v, "ndim", 0) > 1 else v for k, v in flat.items()}
        if metrics is None:
            metrics = {"hp_metric": -1} if self._default_hp_metric else None
        elif not isinstance(metrics, dict):
            metrics = {"hp_metric": metrics}
        if not metrics:
            return
        self.log_metrics(metrics, step)
        if _tensorboard_available():
            from torch.utils.tensorboard.summary import hparams
        else:
            from tensorboardX.summary import hparams  # type: ignore[no-redef]
        writer = self.experiment._get_file_writer()
        for summary in hparams(flat, metrics):
            writer.add_summary(summary, step)

    @rank_zero_only
    def log_graph(self, model: Module, input_array: Optional[Tensor] = None) -> None:
        if not self._log_graph:
            return
        if input_array is None:
            input_array = getattr(model, "example_input_array", None)
        if input_array is None:
            rank_zero_warn(
                "Could not log computational graph to TensorBoard: The `model.example_input_array` attribute"
                " is not set or `input_array` was not given."
            )
            return
        if not isinstance(input_array, (Tensor, tuple)):
            rank_zero_warn(
                "Could not log computational graph to TensorBoard: The `input_array` or `model.example_input_array`"
                f" has type {type(input_array)} which can't be traced by TensorBoard. Make the input array a tuple"
                " representing the positional arguments to the model's `forward()` implementation."
            )
            return
        # a LightningModule-like model moves the example input to its device through its batch-transfer hooks
        before = getattr(model, "_on_before_batch_transfer", None)
        transfer = getattr(model, "_apply_batch_transfer_handler", None)
        if callable(before) and callable(transfer):
            input_array = transfer(before(input_array))
        self.experiment.add_graph(model, input_array)

    @rank_zero_only
    def save(self) -> None:
        """Flush the event files and write ``hparams.yaml`` unless it already exists."""
        self.experiment.flush()
        hparams_file = os.path.join(self.log_dir, self.NAME_HPARAMS_FILE)
        if os.path.isdir(self.log_dir) and not os.path.isfile(hparams_file):
            save_hparams_to_yaml(hparams_file, self.hparams)

    @rank_zero_only
    def finalize(self, status: str) -> None:
        if self._experiment is not None:
            self.experiment.flush()
            self.experiment.close()
        if status == "success":
            self.save()  # hparams.yaml is written even when no metric was ever logged

    def __getstate__(self) -> dict[str, Any]:
        # the SummaryWriter holds threads and file handles: it is rebuilt lazily after unpickling
        state = self.__dict__.copy()
        state["_experiment"] = None
        return state


def _is_omegaconf_container(obj: Any) -> bool:
    if importlib.util.find_spec("omegaconf") is None:
        return False
    from omegaconf import Container

    return isinstance(obj, Container)


# Names Lightning's module also exports, imported on first use (see fastlit._reexport).
from fastlit._reexport import lazy_exports  # noqa: E402

__getattr__ = lazy_exports(__name__, {
    "Logger": "fastlit.loggers.logger",
    "ModelCheckpoint": "fastlit.callbacks.model_checkpoint",
})
