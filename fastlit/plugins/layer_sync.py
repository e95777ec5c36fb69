"""Layer synchronization across processes: ``TorchSyncBatchNorm`` turns BatchNorm layers into ``SyncBatchNorm``
and back. (``Trainer(sync_batchnorm=True)`` does the conversion for a DDP run.)"""
from __future__ import annotations

from abc import ABC, abstractmethod

import torch
from torch import Tensor
from torch.nn import Module


class LayerSync(ABC):
    """Wraps layers of a model with synchronization logic (``apply``) and unwraps them (``revert``)."""

    @abstractmethod
    def apply(self, model: Module) -> Module:
        """Return ``model`` with its layers synchronized."""

    @abstractmethod
    def revert(self, model: Module) -> Module:
        """Return ``model`` with the synchronized layers turned back into plain ones."""


class TorchSyncBatchNorm(LayerSync):
    """Every ``BatchNorm*d`` becomes ``torch.nn.SyncBatchNorm`` (statistics over all processes) and back."""

    def apply(self, model: Module) -> Module:
        return torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)

    def revert(self, model: Module) -> Module:
        converted = model
        if isinstance(model, torch.nn.SyncBatchNorm):
            # SyncBatchNorm does not remember whether it was 1d/2d/3d, so the replacement accepts any input rank
            converted = _BatchNormXd(model.num_features, model.eps, model.momentum, model.affine,
                                     model.track_running_stats)
            if model.affine:
                with torch.no_grad():
                    converted.weight = model.weight
                    converted.bias = model.bias
            converted.running_mean = model.running_mean
            converted.running_var = model.running_var
            converted.num_batches_tracked = model.num_batches_tracked
            if hasattr(model, "qconfig"):
                converted.qconfig = model.qconfig
        for name, child in model.named_children():
            converted.add_module(name, self.revert(child))
        return converted


class _BatchNormXd(torch.nn.modules.batchnorm._BatchNorm):
    def _check_input_dim(self, input: Tensor) -> None:
        # the 1d/2d/3d subclasses differ only in this check; skipping it accepts all of them
        return
