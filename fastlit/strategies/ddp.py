"""DDP on ``torch.distributed``: launching local ranks, the process group, model wrapping and collectives.

Launch follows Lightning: under ``torchrun`` (or any launcher that sets ``RANK``/``LOCAL_RANK``/``WORLD_SIZE``
and ``MASTER_ADDR``/``MASTER_PORT``) every process is already there and we only join the group. Started as a
plain ``python script.py`` with ``devices=N``, the first ``fit``/``validate``/... re-runs the same command N-1
times with ``LOCAL_RANK=1..N-1`` (the original process is rank 0) on a free port.
"""
from __future__ import annotations

import atexit
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
from datetime import timedelta
from typing import Any, Optional

import torch
import torch.distributed as dist
from torch import nn

from fastlit.strategies.parallel import ParallelStrategy
from fastlit.utilities.exceptions import MisconfigurationException
from fastlit.utilities.rank_zero import rank_zero_info, rank_zero_only

DEFAULT_TIMEOUT = timedelta(minutes=30)  # torch's and Lightning's default for a collective
_ERRDIR_ENV = "FASTLIT_DDP_ERRDIR"


def launched_externally() -> bool:
    """True in a process started by torchrun (or by our own launcher): rank variables are already set."""
    return "LOCAL_RANK" in os.environ and "WORLD_SIZE" in os.environ


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _StepWrapper(nn.Module):
    """What DDP wraps: its forward is the module's ``training_step`` so DDP's gradient hooks see every step."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return self.module.training_step(*args, **kwargs)


class DDPStrategy(ParallelStrategy):
    """Distributed data parallel training, one process per device.

    Args:
        accelerator: unused (the Trainer picks the device); kept for Lightning's signature.
        parallel_devices: the devices of this node (set by the Trainer).
        process_group_backend: ``"gloo"`` (CPU default) or ``"nccl"`` (CUDA default).
        timeout: how long a collective may wait for the other ranks.
        start_method: ``"popen"`` (re-run the script; Lightning's ``ddp``); ``"spawn"``/``"fork"`` are accepted
            and run the same way.
        **kwargs: passed to ``torch.nn.parallel.DistributedDataParallel`` (``find_unused_parameters``,
            ``static_graph``, ``gradient_as_bucket_view``, ...).
    """

    strategy_name = "ddp"

    def __init__(self, accelerator: Optional[Any] = None, parallel_devices: Optional[list[torch.device]] = None,
                 cluster_environment: Optional[Any] = None, checkpoint_io: Optional[Any] = None,
                 precision_plugin: Optional[Any] = None, process_group_backend: Optional[str] = None,
                 timeout: Optional[timedelta] = DEFAULT_TIMEOUT, start_method: str = "popen", **kwargs: Any) -> None:
        super().__init__()
        if start_method not in ("popen", "spawn", "fork", "forkserver"):
            raise ValueError(f"DDPStrategy(start_method={start_method!r}): use 'popen', 'spawn' or 'fork'.")
        self.parallel_devices = parallel_devices or []
        self.process_group_backend = process_group_backend
        self.timeout = timeout
        self.start_method = start_method
        self._ddp_kwargs = kwargs
        self.num_nodes = 1
        self.num_processes = 1
        self._children: list[subprocess.Popen] = []
        self.model: Optional[nn.Module] = None

    # ------------------------------------------------------------------ ranks
    @property
    def local_rank(self) -> int:
        return int(os.environ.get("LOCAL_RANK", 0))

    @property
    def node_rank(self) -> int:
        return int(os.environ.get("NODE_RANK", os.environ.get("GROUP_RANK", 0)))

    @property
    def global_rank(self) -> int:
        if "RANK" in os.environ:
            return int(os.environ["RANK"])
        return self.node_rank * self.num_processes + self.local_rank

    @property
    def world_size(self) -> int:
        return int(os.environ.get("WORLD_SIZE", self.num_processes * self.num_nodes))

    @property
    def is_global_zero(self) -> bool:
        return self.global_rank == 0

    @property
    def root_device(self) -> torch.device:
        if self.parallel_devices:
            return self.parallel_devices[self.local_rank % len(self.parallel_devices)]
        return torch.device("cpu")

    def configure(self, devices: list[torch.device], num_nodes: int) -> None:
        """Called by the Trainer with this node's devices."""
        self.parallel_devices = devices
        self.num_processes = len(devices)
        self.num_nodes = num_nodes

    # ------------------------------------------------------------------ launch and process group
    def launch(self) -> None:
        """Start the other local ranks (unless a launcher did) and join the process group."""
        if dist.is_available() and dist.is_initialized():
            return
        if not launched_externally():
            self._start_children()
        rank_zero_only.rank = self.global_rank
        backend = self.process_group_backend or ("nccl" if self.root_device.type == "cuda" else "gloo")
        if self.root_device.type == "cuda":
            torch.cuda.set_device(self.root_device)
        rank_zero_info(f"Initializing distributed: GLOBAL_RANK: {self.global_rank}, MEMBER: "
                       f"{self.global_rank + 1}/{self.world_size}")
        dist.init_process_group(backend, rank=self.global_rank, world_size=self.world_size,
                                timeout=self.timeout or DEFAULT_TIMEOUT)

    def _start_children(self) -> None:
        if self.num_nodes > 1:
            raise MisconfigurationException(
                "Multi-node training needs a launcher: run `torchrun --nnodes=M --nproc-per-node=N "
                "--rdzv-backend=c10d --rdzv-endpoint=HOST:PORT script.py` on every node (see README).")
        main = sys.modules.get("__main__")
        spec = getattr(main, "__spec__", None)
        if spec is not None and spec.name:
            command = [sys.executable, "-m", spec.name.removesuffix(".__main__")] + sys.argv[1:]
        elif sys.argv and sys.argv[0] and os.path.exists(sys.argv[0]):
            command = [sys.executable, os.path.abspath(sys.argv[0])] + sys.argv[1:]
        else:
            raise MisconfigurationException(
                "`devices>1` with strategy 'ddp' re-runs your script once per extra device, but this process was "
                "not started from a script file (e.g. `python -c` or a notebook). Put the code in a file, or "
                "launch with `torchrun --nproc-per-node=N script.py`.")
        alias = sys.modules.get("fastlit._lightning_alias")
        if alias is not None and alias.active():  # fastlit stands in for Lightning: so must it in every rank
            command = [sys.executable, "-m", "fastlit.run"] + command[1:]
        os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
        os.environ.setdefault("MASTER_PORT", str(_free_port()))
        os.environ.setdefault(_ERRDIR_ENV, tempfile.mkdtemp(prefix="fastlit-ddp-"))
        os.environ["WORLD_SIZE"] = str(self.num_processes * self.num_nodes)
        os.environ["NODE_RANK"] = "0"
        for local_rank in range(1, self.num_processes):
            env = dict(os.environ, LOCAL_RANK=str(local_rank), RANK=str(local_rank))
            self._children.append(subprocess.Popen(command, env=env))
        os.environ["LOCAL_RANK"] = "0"
        os.environ["RANK"] = "0"
        atexit.register(self._wait_children)

    def _wait_children(self, timeout: float = 600.0) -> None:
        deadline = time.monotonic() + timeout
        for p in self._children:
            try:
                p.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()

    def kill_children(self) -> None:
        for p in self._children:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)

    # ------------------------------------------------------------------ model
    def wrap(self, module: nn.Module) -> nn.Module:
        """Wrap ``module`` in DDP; the returned object's ``forward`` runs ``training_step``."""
        device_ids = [self.root_device.index] if self.root_device.type == "cuda" else None
        self.model = nn.parallel.DistributedDataParallel(_StepWrapper(module), device_ids=device_ids,
                                                         **self._ddp_kwargs)
        return self.model

    # ------------------------------------------------------------------ collectives
    def barrier(self, name: Optional[str] = None) -> None:
        if dist.is_initialized():
            dist.barrier()

    def broadcast(self, obj: Any, src: int = 0) -> Any:
        if not dist.is_initialized():
            return obj
        box = [obj]
        dist.broadcast_object_list(box, src=src)
        return box[0]

    def reduce(self, tensor: Any, group: Optional[Any] = None, reduce_op: Optional[str] = "mean") -> Any:
        if not dist.is_initialized() or not isinstance(tensor, torch.Tensor):
            return tensor
        op = str(reduce_op).lower() if reduce_op is not None else "mean"
        t = tensor.detach().clone()
        if op in ("mean", "avg", "sum"):
            dist.all_reduce(t, op=dist.ReduceOp.SUM, group=group)
            return t / self.world_size if op != "sum" else t
        dist.all_reduce(t, op=dist.ReduceOp.MAX if op == "max" else dist.ReduceOp.MIN, group=group)
        return t

    def all_gather(self, tensor: Any, group: Optional[Any] = None, sync_grads: bool = False) -> Any:
        if not dist.is_initialized():
            return tensor
        if isinstance(tensor, dict):
            return {k: self.all_gather(v, group, sync_grads) for k, v in tensor.items()}
        if isinstance(tensor, (list, tuple)):
            return type(tensor)(self.all_gather(v, group, sync_grads) for v in tensor)
        if not isinstance(tensor, torch.Tensor):
            tensor = torch.as_tensor(tensor, device=self.root_device)
        t = tensor.contiguous()
        out = [torch.empty_like(t) for _ in range(self.world_size)]
        if sync_grads:
            out = list(torch.distributed.nn.functional.all_gather(t, group=group))  # keeps the autograd graph
        else:
            dist.all_gather(out, t, group=group)
        return torch.stack(out)

    def reduce_boolean_decision(self, decision: bool, all: bool = True) -> bool:
        if not dist.is_initialized():
            return decision
        t = torch.tensor(int(decision), device=self.root_device)
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
        return bool(t.item() == self.world_size) if all else bool(t.item() > 0)

    # ------------------------------------------------------------------ failures
    def record_failure(self, exc: BaseException) -> None:
        """Leave this rank's error where the other ranks can report it instead of a bare peer error."""
        errdir = os.environ.get(_ERRDIR_ENV)
        if not errdir:
            return
        try:
            with open(os.path.join(errdir, f"rank{self.global_rank}.err"), "w") as f:
                f.write("".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))
        except OSError:
            pass

    def failure_of_other_rank(self, wait_s: float = 5.0) -> Optional[tuple[int, str]]:
        """(rank, traceback) of another rank that failed first, if any reported within ``wait_s``."""
        errdir = os.environ.get(_ERRDIR_ENV)
        if not errdir:
            return None
        deadline = time.monotonic() + wait_s
        while True:
            for name in sorted(os.listdir(errdir)) if os.path.isdir(errdir) else []:
                rank = int(name[4:-4])
                if rank != self.global_rank:
                    with open(os.path.join(errdir, name)) as f:
                        return rank, f.read()
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.1)


# Names Lightning's module also exports, imported on first use (see fastlit._reexport).
from fastlit._reexport import lazy_exports  # noqa: E402

__getattr__ = lazy_exports(__name__, {
    "CheckpointIO": "fastlit.checkpoint.io",
    "ClusterEnvironment": "fastlit.plugins.environments",
    "LightningOptimizer": "fastlit.core.optimizer",
    "Precision": "fastlit.plugins.precision.precision",
    "TBroadcast": "fastlit.strategies.strategy",
    "TrainerFn": "fastlit.trainer.states",
    "log": "@logger",
    "prepare_for_backward": "fastlit.overrides.distributed",
    "rank_zero_deprecation": "fastlit.utilities.rank_zero",
    "reset_seed": "fastlit.utilities.seed",
    "utils_rank_zero_only": "fastlit.utilities.rank_zero:rank_zero_only",
})
