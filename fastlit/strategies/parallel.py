"""``ParallelStrategy``: the base of strategies that run several processes (fastlit's: ``DDPStrategy``).

User code checks ``isinstance(trainer.strategy, ParallelStrategy)`` to tell multi-process runs apart, and
reads ``parallel_devices`` / ``num_processes`` / ``distributed_sampler_kwargs`` from it.
"""
from __future__ import annotations

from typing import Any, Optional

import torch

from fastlit.plugins.io.checkpoint_plugin import CheckpointIO  # noqa: F401  (Lightning's module exports these)
from fastlit.plugins.layer_sync import LayerSync  # noqa: F401
from fastlit.plugins.environments import ClusterEnvironment  # noqa: F401
from fastlit.plugins.precision import Precision  # noqa: F401
from fastlit.strategies.single_device import Strategy


class ParallelStrategy(Strategy):
    """A strategy with one process per device in ``parallel_devices`` (on each of ``num_nodes`` machines).

    Subclasses provide the ranks and collectives; this base adds what all of them share.
    """

    def __init__(self, accelerator: Optional[Any] = None, parallel_devices: Optional[list[torch.device]] = None,
                 cluster_environment: Optional[Any] = None, checkpoint_io: Optional[Any] = None,
                 precision_plugin: Optional[Any] = None) -> None:
        super().__init__()
        self.parallel_devices = parallel_devices or []
        self.num_processes = len(self.parallel_devices)  # processes per node (a plain attribute: DDP sets it)
        self.cluster_environment = cluster_environment

    @property
    def is_global_zero(self) -> bool:
        return self.global_rank == 0

    @property
    def distributed_sampler_kwargs(self) -> dict[str, Any]:
        """What a ``DistributedSampler`` for this rank needs."""
        return {"num_replicas": self.world_size, "rank": self.global_rank}

    def teardown(self) -> None:
        """Nothing to release here; subclasses close their process groups."""
