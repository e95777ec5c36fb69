"""Finetuning callbacks: freeze part of a model before training and unfreeze it later, adding its parameters to the
optimizer as a new param group (``BaseFinetuning`` for your own schedule, ``BackboneFinetuning`` for a ``backbone``).

The added param groups are saved in the callback's checkpoint state (by parameter name) and put back into the
optimizer in ``on_fit_start`` when a run resumes, so a resumed optimizer has the same groups as the one that was
saved. That needs ``on_fit_start`` to run before the optimizer state is loaded, which is Lightning's order but not
yet fastlit's: resuming after the unfreeze epoch fails in fastlit for now (``tests/callbacks/test_finetuning.py``
has the strict xfail that will flag the fix).
"""
from __future__ import annotations

import logging
from collections.abc import Generator, Iterable
from typing import Any, Callable, Optional, Union

from torch.nn import Module, ModuleDict
from torch.nn.modules.batchnorm import _BatchNorm
from torch.optim.optimizer import Optimizer

from fastlit.callbacks.callback import Callback
from fastlit.utilities.exceptions import MisconfigurationException
from fastlit.utilities.rank_zero import rank_zero_warn

log = logging.getLogger(__name__)

_Modules = Union[Module, Iterable[Union[Module, Iterable]]]


def multiplicative(epoch: int) -> float:
    """``BackboneFinetuning``'s default schedule: the backbone's learning rate doubles every epoch."""
    return 2.0


class BaseFinetuning(Callback):
    """Base class for finetuning schedules: override ``freeze_before_training`` (called in ``setup``, before
    ``configure_optimizers``) and ``finetune_function`` (called at every train epoch start, per optimizer).

    Create the optimizer over the trainable parameters only, e.g.
    ``Adam(filter(lambda p: p.requires_grad, self.parameters()))``; ``unfreeze_and_add_param_group`` adds the rest
    when their time comes.
    """

    def __init__(self) -> None:
        # per optimizer index: its param groups, parameters by name (what a checkpoint can hold)
        self._internal_optimizer_metadata: dict[int, list[dict[str, Any]]] = {}
        self._restarting = False

    def state_dict(self) -> dict[str, Any]:
        return {"internal_optimizer_metadata": self._internal_optimizer_metadata}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._restarting = True
        # checkpoints of old Lightning versions stored the mapping itself
        self._internal_optimizer_metadata = state_dict.get("internal_optimizer_metadata", state_dict)

    def on_fit_start(self, trainer: Any, pl_module: Any) -> None:
        if self._restarting:
            if self._internal_optimizer_metadata:
                named = dict(pl_module.named_parameters())
                for idx, optimizer in enumerate(trainer.optimizers):
                    if idx in self._internal_optimizer_metadata:
                        optimizer.param_groups = self._apply_mapping_to_param_groups(
                            self._internal_optimizer_metadata[idx], named)
            self._restarting = False

    @staticmethod
    def flatten_modules(modules: _Modules) -> list[Module]:
        """The leaf modules of ``modules`` (a module, a ``ModuleDict`` or nested iterables of them), plus the
        non-leaf ones that hold parameters of their own."""
        if isinstance(modules, ModuleDict):
            modules = modules.values()
        if isinstance(modules, Iterable):
            found: list[Module] = []
            for m in modules:
                found.extend(BaseFinetuning.flatten_modules(m))
            candidates: Iterable[Module] = found
        else:
            candidates = modules.modules()
        return [m for m in candidates if not list(m.children()) or m._parameters]

    @staticmethod
    def filter_params(modules: _Modules, train_bn: bool = True, requires_grad: bool = True) -> Generator:
        """The parameters of ``modules`` whose ``requires_grad`` equals ``requires_grad`` (BatchNorm layers'
        left out unless ``train_bn``)."""
        for mod in BaseFinetuning.flatten_modules(modules):
            if isinstance(mod, _BatchNorm) and not train_bn:
                continue
            for param in mod.parameters(recurse=False):
                if param.requires_grad == requires_grad:
                    yield param

    @staticmethod
    def make_trainable(modules: _Modules) -> None:
        """Unfreeze ``modules`` (BatchNorm layers track running statistics again)."""
        for module in BaseFinetuning.flatten_modules(modules):
            if isinstance(module, _BatchNorm):
                module.track_running_stats = True
            for param in module.parameters(recurse=False):
                param.requires_grad = True

    @staticmethod
    def freeze_module(module: Module) -> None:
        """Freeze one module's own parameters (a BatchNorm layer also stops tracking running statistics)."""
        if isinstance(module, _BatchNorm):
            module.track_running_stats = False
        for param in module.parameters(recurse=False):
            param.requires_grad = False

    @staticmethod
    def freeze(modules: _Modules, train_bn: bool = True) -> None:
        """Freeze ``modules``; with ``train_bn`` their BatchNorm layers stay trainable."""
        for mod in BaseFinetuning.flatten_modules(modules):
            if isinstance(mod, _BatchNorm) and train_bn:
                BaseFinetuning.make_trainable(mod)
            else:
                BaseFinetuning.freeze_module(mod)

    @staticmethod
    def filter_on_optimizer(optimizer: Optimizer, params: Iterable) -> list:
        """``params`` minus those already in one of ``optimizer``'s param groups (with a warning if any were).

        Membership is by identity. (Lightning compares values with ``torch.equal``, which also drops a distinct
        parameter that merely holds the same numbers, e.g. a second zero-initialized bias.)
        """
        present = {id(p) for group in optimizer.param_groups for p in group["params"]}
        kept, skipped = [], []
        for param in params:
            (skipped if id(param) in present else kept).append(param)
        if skipped:
            rank_zero_warn(
                "The provided params to be frozen already exist within another group of this optimizer. Those "
                "parameters will be skipped.\nHINT: Did you init your optimizer in `configure_optimizer` as such:\n "
                f"{type(optimizer)}(filter(lambda p: p.requires_grad, self.parameters()), ...) ")
        return kept

    @staticmethod
    def unfreeze_and_add_param_group(modules: _Modules, optimizer: Optimizer, lr: Optional[float] = None,
                                     initial_denom_lr: float = 10.0, train_bn: bool = True) -> None:
        """Unfreeze ``modules`` and add their parameters to ``optimizer`` as a new param group.

        Args:
            modules: what to unfreeze.
            optimizer: receives the new group.
            lr: the group's learning rate; default: the first group's divided by ``initial_denom_lr``.
            initial_denom_lr: see ``lr``.
            train_bn: whether BatchNorm parameters join the group.
        """
        BaseFinetuning.make_trainable(modules)
        params_lr = optimizer.param_groups[0]["lr"] if lr is None else float(lr)
        denom = initial_denom_lr if lr is None else 1.0
        params = BaseFinetuning.filter_on_optimizer(
            optimizer, BaseFinetuning.filter_params(modules, train_bn=train_bn, requires_grad=True))
        if params:
            optimizer.add_param_group({"params": params, "lr": params_lr / denom})

    def setup(self, trainer: Any, pl_module: Any, stage: str) -> None:
        self.freeze_before_training(pl_module)

    @staticmethod
    def _apply_mapping_to_param_groups(param_groups: list[dict[str, Any]], mapping: dict) -> list[dict[str, Any]]:
        # swap each group's params through `mapping` (parameter -> name to save, name -> parameter to restore)
        return [{**{k: v for k, v in g.items() if k != "params"}, "params": [mapping[p] for p in g["params"]]}
                for g in param_groups]

    def _store(self, pl_module: Any, opt_idx: int, num_param_groups: int,
               current_param_groups: list[dict[str, Any]]) -> None:
        mapping = {p: n for n, p in pl_module.named_parameters()}
        if opt_idx not in self._internal_optimizer_metadata:
            self._internal_optimizer_metadata[opt_idx] = self._apply_mapping_to_param_groups(
                current_param_groups, mapping)
        elif num_param_groups != len(current_param_groups):
            self._internal_optimizer_metadata[opt_idx].extend(
                self._apply_mapping_to_param_groups(current_param_groups[num_param_groups:], mapping))

    def on_train_epoch_start(self, trainer: Any, pl_module: Any) -> None:
        for idx, optimizer in enumerate(trainer.optimizers):
            before = len(optimizer.param_groups)
            self.finetune_function(pl_module, trainer.current_epoch, optimizer)
            self._store(pl_module, idx, before, optimizer.param_groups)

    def finetune_function(self, pl_module: Any, epoch: int, optimizer: Optimizer) -> None:
        """Override: unfreeze what should train from ``epoch`` on (``unfreeze_and_add_param_group``)."""
        raise NotImplementedError

    def freeze_before_training(self, pl_module: Any) -> None:
        """Override: freeze what should not train at first (``freeze``)."""
        raise NotImplementedError


class BackboneFinetuning(BaseFinetuning):
    """Train ``pl_module.backbone`` from epoch ``unfreeze_backbone_at_epoch`` on, at a learning rate that starts
    low and grows by ``lambda_func(epoch)`` each epoch (capped at the model's rate when ``should_align``).

    Args:
        unfreeze_backbone_at_epoch: the epoch the backbone starts training.
        lambda_func: the factor applied to the backbone's learning rate each later epoch.
        backbone_initial_ratio_lr: the backbone's first learning rate, as a fraction of the model's.
        backbone_initial_lr: the backbone's first learning rate (overrides the ratio).
        should_align: never let the backbone's rate exceed the model's.
        initial_denom_lr: passed to ``unfreeze_and_add_param_group``.
        train_bn: whether the backbone's BatchNorm layers train while it is frozen.
        verbose: log both learning rates at each change.
        rounding: decimals in those log lines.
    """

    def __init__(self, unfreeze_backbone_at_epoch: int = 10, lambda_func: Callable = multiplicative,
                 backbone_initial_ratio_lr: float = 10e-2, backbone_initial_lr: Optional[float] = None,
                 should_align: bool = True, initial_denom_lr: float = 10.0, train_bn: bool = True,
                 verbose: bool = False, rounding: int = 12) -> None:
        super().__init__()
        self.unfreeze_backbone_at_epoch = unfreeze_backbone_at_epoch
        self.lambda_func = lambda_func
        self.backbone_initial_ratio_lr = backbone_initial_ratio_lr
        self.backbone_initial_lr = backbone_initial_lr
        self.should_align = should_align
        self.initial_denom_lr = initial_denom_lr
        self.train_bn = train_bn
        self.verbose = verbose
        self.rounding = rounding
        self.previous_backbone_lr: Optional[float] = None

    def state_dict(self) -> dict[str, Any]:
        return {"internal_optimizer_metadata": self._internal_optimizer_metadata,
                "previous_backbone_lr": self.previous_backbone_lr}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.previous_backbone_lr = state_dict["previous_backbone_lr"]
        super().load_state_dict(state_dict)

    def on_fit_start(self, trainer: Any, pl_module: Any) -> None:
        if not isinstance(getattr(pl_module, "backbone", None), Module):
            raise MisconfigurationException("The LightningModule should have a nn.Module `backbone` attribute")
        super().on_fit_start(trainer, pl_module)

    def freeze_before_training(self, pl_module: Any) -> None:
        self.freeze(pl_module.backbone)

    def finetune_function(self, pl_module: Any, epoch: int, optimizer: Optimizer) -> None:
        current_lr = optimizer.param_groups[0]["lr"]
        if epoch == self.unfreeze_backbone_at_epoch:
            backbone_lr = (self.backbone_initial_lr if self.backbone_initial_lr is not None
                           else current_lr * self.backbone_initial_ratio_lr)
            self.previous_backbone_lr = backbone_lr
            self.unfreeze_and_add_param_group(pl_module.backbone, optimizer, backbone_lr, train_bn=self.train_bn,
                                              initial_denom_lr=self.initial_denom_lr)
        elif epoch > self.unfreeze_backbone_at_epoch:
            backbone_lr = self.lambda_func(epoch + 1) * self.previous_backbone_lr
            if self.should_align and backbone_lr > current_lr:
                backbone_lr = current_lr
            optimizer.param_groups[-1]["lr"] = backbone_lr  # the backbone's group is the last one added
            self.previous_backbone_lr = backbone_lr
        else:
            return
        if self.verbose:
            log.info(f"Current lr: {round(current_lr, self.rounding)}, "
                     f"Backbone lr: {round(backbone_lr, self.rounding)}")
