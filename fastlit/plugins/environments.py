"""Cluster environments: where the ranks and the main address of a multi-process run come from.

fastlit's DDP reads the variables torchrun (or its own launcher) sets, which is what ``LightningEnvironment`` and
``TorchElasticEnvironment`` describe; those two are real. fastlit does not detect SLURM, LSF, MPI, Kubeflow or
XLA environments: their classes are placeholders -- start the ranks there with ``torchrun`` (e.g.
``srun torchrun --nnodes=... train.py``).
"""
from __future__ import annotations

import logging
import os
import socket
from abc import ABC, abstractmethod

import torch.distributed

from fastlit._placeholders import placeholder_class, reason
from fastlit.utilities.rank_zero import rank_zero_only, rank_zero_warn

log = logging.getLogger(__name__)


class ClusterEnvironment(ABC):
    """What a cluster tells each process: ranks, world size, and where rank 0 listens."""

    @property
    @abstractmethod
    def creates_processes_externally(self) -> bool:
        """Whether something else (torchrun, the scheduler) starts the processes."""

    @property
    @abstractmethod
    def main_address(self) -> str:
        """The address all processes connect to."""

    @property
    @abstractmethod
    def main_port(self) -> int:
        """The port on ``main_address``."""

    @staticmethod
    @abstractmethod
    def detect() -> bool:
        """Whether the current process runs in this environment."""

    @abstractmethod
    def world_size(self) -> int: ...

    @abstractmethod
    def set_world_size(self, size: int) -> None: ...

    @abstractmethod
    def global_rank(self) -> int: ...

    @abstractmethod
    def set_global_rank(self, rank: int) -> None: ...

    @abstractmethod
    def local_rank(self) -> int: ...

    @abstractmethod
    def node_rank(self) -> int: ...

    def validate_settings(self, num_devices: int, num_nodes: int) -> None:
        """Raise if the Trainer's ``devices``/``num_nodes`` contradict the environment."""

    def teardown(self) -> None:
        """Undo what the environment set up."""


def find_free_network_port() -> int:
    """A free TCP port on this machine (``STANDALONE_PORT`` wins when set)."""
    if "STANDALONE_PORT" in os.environ:
        return int(os.environ["STANDALONE_PORT"])
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("", 0))
        return s.getsockname()[1]


class LightningEnvironment(ClusterEnvironment):
    """One machine, or a cluster nobody manages: the script starts its own ranks unless ``LOCAL_RANK`` is set
    (then a launcher did); ``MASTER_ADDR``/``MASTER_PORT`` default to localhost and a free port."""

    def __init__(self) -> None:
        super().__init__()
        self._main_port = -1
        self._global_rank = 0
        self._world_size = 1

    @property
    def creates_processes_externally(self) -> bool:
        return "LOCAL_RANK" in os.environ

    @property
    def main_address(self) -> str:
        return os.environ.get("MASTER_ADDR", "127.0.0.1")

    @property
    def main_port(self) -> int:
        if self._main_port == -1:
            self._main_port = int(os.environ["MASTER_PORT"]) if "MASTER_PORT" in os.environ else \
                find_free_network_port()
        return self._main_port

    @staticmethod
    def detect() -> bool:
        return True

    def world_size(self) -> int:
        return self._world_size

    def set_world_size(self, size: int) -> None:
        self._world_size = size

    def global_rank(self) -> int:
        return self._global_rank

    def set_global_rank(self, rank: int) -> None:
        self._global_rank = rank
        rank_zero_only.rank = rank  # the rank_zero_* helpers follow the process's rank

    def local_rank(self) -> int:
        return int(os.environ.get("LOCAL_RANK", 0))

    def node_rank(self) -> int:
        return int(os.environ.get("NODE_RANK", os.environ.get("GROUP_RANK", 0)))

    def teardown(self) -> None:
        os.environ.pop("WORLD_SIZE", None)


class TorchElasticEnvironment(ClusterEnvironment):
    """Processes started by ``torchrun`` (torchelastic): everything comes from its variables."""

    @property
    def creates_processes_externally(self) -> bool:
        return True

    @property
    def main_address(self) -> str:
        if "MASTER_ADDR" not in os.environ:
            rank_zero_warn("MASTER_ADDR environment variable is not defined. Set as localhost")
            os.environ["MASTER_ADDR"] = "127.0.0.1"
        return os.environ["MASTER_ADDR"]

    @property
    def main_port(self) -> int:
        if "MASTER_PORT" not in os.environ:
            rank_zero_warn("MASTER_PORT environment variable is not defined. Set as 12910")
            os.environ["MASTER_PORT"] = "12910"
        return int(os.environ["MASTER_PORT"])

    @staticmethod
    def detect() -> bool:
        return torch.distributed.is_available() and torch.distributed.is_torchelastic_launched()

    def world_size(self) -> int:
        return int(os.environ["WORLD_SIZE"])

    def set_world_size(self, size: int) -> None:
        log.debug("TorchElasticEnvironment.set_world_size was called, but setting world size is not allowed. Ignored.")

    def global_rank(self) -> int:
        return int(os.environ["RANK"])

    def set_global_rank(self, rank: int) -> None:
        log.debug("TorchElasticEnvironment.set_global_rank was called, but setting global rank is not allowed. "
                  "Ignored.")

    def local_rank(self) -> int:
        return int(os.environ["LOCAL_RANK"])

    def node_rank(self) -> int:
        return int(os.environ.get("GROUP_RANK", 0))

    def validate_settings(self, num_devices: int, num_nodes: int) -> None:
        if num_devices * num_nodes != self.world_size():
            raise ValueError(f"You set `devices={num_devices}` and `num_nodes={num_nodes}` in Lightning, but the "
                             f"product ({num_devices} * {num_nodes}) does not match the world size "
                             f"({self.world_size()}).")


_TORCHRUN = "Start the ranks with torchrun (e.g. `srun torchrun --nnodes=N --nproc-per-node=G ... train.py`); " \
            "fastlit reads torchrun's variables (TorchElasticEnvironment)."
SLURMEnvironment = placeholder_class(__name__, "SLURMEnvironment", "fastlit does not read SLURM's variables",
                                     _TORCHRUN, bases=(ClusterEnvironment,))
LSFEnvironment = placeholder_class(__name__, "LSFEnvironment", "fastlit does not read LSF's variables", _TORCHRUN,
                                   bases=(ClusterEnvironment,))
MPIEnvironment = placeholder_class(__name__, "MPIEnvironment", "fastlit does not launch through MPI", _TORCHRUN,
                                   bases=(ClusterEnvironment,))
KubeflowEnvironment = placeholder_class(__name__, "KubeflowEnvironment",
                                        "fastlit does not read Kubeflow PyTorchJob's variables", _TORCHRUN,
                                        bases=(ClusterEnvironment,))
XLAEnvironment = placeholder_class(__name__, "XLAEnvironment", *reason("xla"), bases=(ClusterEnvironment,))
for _cls in (SLURMEnvironment, LSFEnvironment, MPIEnvironment, KubeflowEnvironment, XLAEnvironment):
    _cls.detect = staticmethod(lambda: False)  # Lightning asks every environment class this; never "here"
