"""``LightningModule`` (``fastlit.Module``): a ``torch.nn.Module`` that also says how to train itself."""
from __future__ import annotations

import builtins
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any, Callable, Optional, Union

import torch
from torch import Tensor, nn
from torch.optim import Optimizer

from fastlit.core.hooks import CheckpointHooks, DataHooks, ModelHooks
from fastlit.core.mixins import HyperparametersMixin
from fastlit.core.optimizer import LightningOptimizer
from fastlit.utilities.exceptions import MisconfigurationException
from fastlit.utilities.model_helpers import hook_base
from fastlit.utilities.rank_zero import WarningCache, rank_zero_warn

_warnings = WarningCache()

# what `self.optimizers()` returns
MODULE_OPTIMIZERS = Union[Optimizer, LightningOptimizer, list[Optimizer], list[LightningOptimizer]]


@hook_base
class LightningModule(HyperparametersMixin, ModelHooks, DataHooks, CheckpointHooks, nn.Module):
    """Base class of a fastlit model: define ``training_step`` and ``configure_optimizers`` (at least).

    Args: whatever your subclass takes; call ``self.save_hyperparameters()`` in ``__init__`` to have them stored
    in checkpoints and restored by ``load_from_checkpoint``.
    """

    # where a checkpoint keeps the saved hyperparameters (Lightning's names)
    CHECKPOINT_HYPER_PARAMS_KEY = "hyper_parameters"
    CHECKPOINT_HYPER_PARAMS_NAME = "hparams_name"
    CHECKPOINT_HYPER_PARAMS_TYPE = "hparams_type"

    # nn.Module attributes that must not be shown as hyperparameters or pickled with the trainer.
    __jit_unused_properties__ = ["example_input_array", "on_gpu", "current_epoch", "global_step", "global_rank",
                                 "local_rank", "logger", "loggers", "automatic_optimization", "trainer", "fabric",
                                 "strict_loading", "device_mesh", "device", "dtype", "hparams", "hparams_initial"]
    _jit_is_scripting = False  # True while torch.jit scripts/traces the module: `trainer` is then None, no error

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._trainer: Optional[Any] = None
        self._current_fx_name: Optional[str] = None
        self._automatic_optimization: bool = True
        self._example_input_array: Optional[Any] = None
        self._device: torch.device = torch.device("cpu")
        self._dtype: torch.dtype = torch.get_default_dtype()
        self._strict_loading: Optional[bool] = None
        self._param_requires_grad_state: dict[str, bool] = {}

    # ------------------------------------------------------------------ properties
    @property
    def trainer(self) -> Any:
        if self._trainer is None and not self._jit_is_scripting:
            raise RuntimeError(f"{type(self).__name__} is not attached to a `Trainer`.")
        return self._trainer

    @trainer.setter
    def trainer(self, trainer: Any) -> None:
        self._trainer = trainer

    @property
    def device(self) -> torch.device:
        return self._device

    @property
    def dtype(self) -> torch.dtype:
        return self._dtype

    def _apply(self, fn: Callable, *args: Any, **kwargs: Any) -> "LightningModule":
        # .to()/.cuda()/.half() all end here: refresh the cached device/dtype once, not on every `self.device`.
        out = super()._apply(fn, *args, **kwargs)
        for t in self.parameters():
            self._device, self._dtype = t.device, t.dtype
            break
        else:
            for t in self.buffers():
                self._device = t.device
                break
        return out

    @property
    def automatic_optimization(self) -> bool:
        return self._automatic_optimization

    @automatic_optimization.setter
    def automatic_optimization(self, value: bool) -> None:
        self._automatic_optimization = value

    @property
    def example_input_array(self) -> Optional[Any]:
        return self._example_input_array

    @example_input_array.setter
    def example_input_array(self, value: Any) -> None:
        self._example_input_array = value

    @property
    def strict_loading(self) -> bool:
        return True if self._strict_loading is None else self._strict_loading

    @strict_loading.setter
    def strict_loading(self, value: bool) -> None:
        self._strict_loading = value

    @property
    def current_epoch(self) -> int:
        return self._trainer.current_epoch if self._trainer is not None else 0

    @property
    def global_step(self) -> int:
        return self._trainer.global_step if self._trainer is not None else 0

    @property
    def global_rank(self) -> int:
        return self._trainer.global_rank if self._trainer is not None else 0

    @property
    def local_rank(self) -> int:
        return self._trainer.local_rank if self._trainer is not None else 0

    @property
    def on_gpu(self) -> bool:
        return self._device.type == "cuda"

    @property
    def logger(self) -> Optional[Any]:
        return self._trainer.logger if self._trainer is not None else None

    @property
    def loggers(self) -> list[Any]:
        return self._trainer.loggers if self._trainer is not None else []

    # ------------------------------------------------------------------ logging
    def log(
        self,
        name: str,
        value: Any,
        prog_bar: bool = False,
        logger: Optional[bool] = None,
        on_step: Optional[bool] = None,
        on_epoch: Optional[bool] = None,
        reduce_fx: Union[str, Callable] = "mean",
        enable_graph: bool = False,
        sync_dist: bool = False,
        sync_dist_group: Optional[Any] = None,
        add_dataloader_idx: bool = True,
        batch_size: Optional[int] = None,
        metric_attribute: Optional[str] = None,
        rank_zero_only: bool = False,
    ) -> None:
        """Record a scalar for the loggers, the progress bar and callbacks (``trainer.callback_metrics``).

        Tensors stay on their device; a value is turned into a python number only when it is emitted.
        """
        trainer = self._trainer
        if trainer is None:
            if not isinstance(value, (Tensor, int, float)) and not hasattr(value, "compute"):
                from fastlit.trainer.metrics import _bad_value_message

                raise ValueError(_bad_value_message(name, value))
            _warnings.warn("You are trying to `self.log()` but the `self.trainer` reference is not registered on the"
                           " model yet. This is most likely because the model hasn't been passed to the `Trainer`")
            return
        if trainer.barebones:
            rank_zero_warn("You are trying to `self.log()` but `Trainer(barebones=True)` is configured. Logging can "
                           "impact raw speed so it is disabled under this setting.")
            return
        results = trainer._results
        if results is None:
            from fastlit.trainer.metrics import FX_NO_LOGGING

            fx = self._current_fx_name
            if fx in FX_NO_LOGGING and "predict" not in fx:
                raise MisconfigurationException(
                    f"You can't `self.log()` inside `{fx}`. HINT: You can still log directly to the logger by using"
                    " `self.logger.experiment`; log from a step or epoch-end hook.")
            raise MisconfigurationException(
                f"You are trying to `self.log({name!r}, ...)` outside a training/validation/test loop hook; "
                "log from `training_step`, `validation_step` or an `on_*_epoch_end` hook instead."
            )
        results.log(
            self._current_fx_name, name, value, prog_bar=prog_bar, logger=True if logger is None else logger,
            on_step=on_step, on_epoch=on_epoch, reduce_fx=reduce_fx, enable_graph=enable_graph,
            add_dataloader_idx=add_dataloader_idx, batch_size=batch_size, sync_dist=sync_dist,
        )

    def log_dict(
        self,
        dictionary: Mapping[str, Any],
        prog_bar: bool = False,
        logger: Optional[bool] = None,
        on_step: Optional[bool] = None,
        on_epoch: Optional[bool] = None,
        reduce_fx: Union[str, Callable] = "mean",
        enable_graph: bool = False,
        sync_dist: bool = False,
        sync_dist_group: Optional[Any] = None,
        add_dataloader_idx: bool = True,
        batch_size: Optional[int] = None,
        rank_zero_only: bool = False,
    ) -> None:
        """``self.log`` for each item of ``dictionary``."""
        for k, v in dictionary.items():
            self.log(k, v, prog_bar=prog_bar, logger=logger, on_step=on_step, on_epoch=on_epoch,
                     reduce_fx=reduce_fx, enable_graph=enable_graph, sync_dist=sync_dist,
                     add_dataloader_idx=add_dataloader_idx, batch_size=batch_size)

    # ------------------------------------------------------------------ steps (override these)
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return super().forward(*args, **kwargs)

    def training_step(self, *args: Any, **kwargs: Any) -> Any:
        raise MisconfigurationException(
            "`training_step` must be implemented to be used with the Trainer: define "
            "`def training_step(self, batch, batch_idx)` returning the loss."
        )

    def validation_step(self, *args: Any, **kwargs: Any) -> Any:
        rank_zero_warn("`validation_step` must be implemented to be used with the Lightning Trainer")

    def test_step(self, *args: Any, **kwargs: Any) -> Any:
        rank_zero_warn("`test_step` must be implemented to be used with the Lightning Trainer")

    def predict_step(self, *args: Any, **kwargs: Any) -> Any:
        batch = kwargs.get("batch", args[0])
        return self(batch)

    def configure_optimizers(self) -> Any:
        rank_zero_warn("`configure_optimizers` must be implemented to be used with the Lightning Trainer")

    def configure_callbacks(self) -> Any:
        return []

    # ------------------------------------------------------------------ optimization
    def optimizers(self, use_pl_optimizer: bool = True) -> Any:
        """The optimizer(s) from ``configure_optimizers``: one object, or a list when there are several."""
        opts = list(self.trainer.optimizers)
        if use_pl_optimizer:
            opts = self.trainer._lightning_optimizers
        if isinstance(opts, list) and len(opts) == 1:
            return opts[0]
        return opts

    def lr_schedulers(self) -> Any:
        """The LR scheduler(s) from ``configure_optimizers``: None, one object, or a list."""
        configs = self.trainer.lr_scheduler_configs
        if not configs:
            return None
        scheds = [c.scheduler for c in configs]
        return scheds[0] if len(scheds) == 1 else scheds

    def manual_backward(self, loss: Tensor, *args: Any, **kwargs: Any) -> None:
        """Backward in manual optimization; applies loss scaling when the precision needs it."""
        if self._automatic_optimization:
            raise MisconfigurationException("`manual_backward` works only with `self.automatic_optimization = False`.")
        self.trainer._manual_backward(loss, *args, **kwargs)

    def backward(self, loss: Tensor, *args: Any, **kwargs: Any) -> None:
        loss.backward(*args, **kwargs)

    def toggle_optimizer(self, optimizer: Union[Optimizer, LightningOptimizer]) -> None:
        """Freeze every parameter that ``optimizer`` does not own (e.g. the other network of a GAN)."""
        own = {id(p) for g in optimizer.param_groups for p in g["params"]}
        state = {}
        for opt in self.trainer.optimizers:
            for g in opt.param_groups:
                for p in g["params"]:
                    if id(p) in own:
                        continue
                    state.setdefault(id(p), (p, p.requires_grad))
                    p.requires_grad = False
        for p_id, (p, flag) in state.items():
            self._param_requires_grad_state[p_id] = (p, flag)  # type: ignore[assignment]

    def untoggle_optimizer(self, optimizer: Union[Optimizer, LightningOptimizer]) -> None:
        """Undo ``toggle_optimizer``."""
        for p, flag in self._param_requires_grad_state.values():  # type: ignore[misc]
            p.requires_grad = flag
        self._param_requires_grad_state = {}

    def clip_gradients(
        self,
        optimizer: Union[Optimizer, LightningOptimizer],
        gradient_clip_val: Optional[Union[int, float]] = None,
        gradient_clip_algorithm: Optional[str] = None,
    ) -> None:
        """Clip the gradients of ``optimizer``'s parameters by norm (default) or by value."""
        self.trainer._clip_gradients(optimizer, gradient_clip_val, gradient_clip_algorithm)

    def configure_gradient_clipping(
        self,
        optimizer: Optimizer,
        gradient_clip_val: Optional[Union[int, float]] = None,
        gradient_clip_algorithm: Optional[str] = None,
    ) -> None:
        self.clip_gradients(optimizer, gradient_clip_val, gradient_clip_algorithm)

    def optimizer_step(
        self,
        epoch: int,
        batch_idx: int,
        optimizer: Union[Optimizer, LightningOptimizer],
        optimizer_closure: Optional[Callable[[], Any]] = None,
    ) -> None:
        optimizer.step(closure=optimizer_closure)

    def optimizer_zero_grad(self, epoch: int, batch_idx: int, optimizer: Optimizer) -> None:
        optimizer.zero_grad()

    def lr_scheduler_step(self, scheduler: Any, metric: Optional[Any]) -> None:
        if metric is None:
            scheduler.step()
        else:
            scheduler.step(metric)

    # ------------------------------------------------------------------ utilities
    @torch.no_grad()
    def to_torchscript(self, file_path: Optional[Union[str, Path]] = None, method: Optional[str] = "script",
                       example_inputs: Optional[Any] = None, **kwargs: Any) -> Any:
        """The module as TorchScript (``method="script"``, or ``"trace"`` with ``example_inputs`` or
        ``self.example_input_array``), in eval mode; saved to ``file_path`` when given. The training mode is kept.
        Deprecated, as in Lightning 2.6.6 (TorchScript is deprecated in PyTorch): use ``torch.export.export()``."""
        from fastlit.utilities.rank_zero import rank_zero_deprecation

        rank_zero_deprecation(
            "`LightningModule.to_torchscript` has been deprecated in v2.7 and will be removed in v2.8. "
            "TorchScript is deprecated in PyTorch. Use `torch.export.export()` for model exporting instead. "
            "See https://pytorch.org/docs/stable/export.html for more information.")
        mode = self.training
        cls = LightningModule
        cls._jit_is_scripting = True
        try:
            if method == "script":
                module = torch.jit.script(self.eval(), **kwargs)
            elif method == "trace":
                if example_inputs is None:
                    if self.example_input_array is None:
                        raise ValueError("Choosing method=`trace` requires either `example_inputs` or"
                                         " `model.example_input_array` to be defined.")
                    example_inputs = self.example_input_array
                from fastlit.utilities.apply_func import move_data_to_device

                example_inputs = move_data_to_device(example_inputs, self.device)
                module = torch.jit.trace(func=self.eval(), example_inputs=example_inputs, **kwargs)
            else:
                raise ValueError(f"The 'method' parameter only supports 'script' or 'trace', but value given was: "
                                 f"{method}")
        finally:
            cls._jit_is_scripting = False
        self.train(mode)
        if file_path is not None:
            with open(file_path, "wb") as f:
                torch.jit.save(module, f)
        return module

    def freeze(self) -> None:
        """Set ``requires_grad=False`` on every parameter and switch to eval mode."""
        for p in self.parameters():
            p.requires_grad = False
        self.eval()

    def unfreeze(self) -> None:
        """Undo ``freeze``."""
        for p in self.parameters():
            p.requires_grad = True
        self.train()

    def print(self, *args: Any, **kwargs: Any) -> None:
        """``print`` on global rank zero only."""
        if self.global_rank == 0:
            builtins.print(*args, **kwargs)

    def all_gather(self, data: Any, group: Optional[Any] = None, sync_grads: bool = False) -> Any:
        """Gather ``data`` from every process (identity on one process)."""
        trainer = self._trainer
        if trainer is None or trainer.world_size == 1:
            return data
        return trainer.strategy.all_gather(data, group=group, sync_grads=sync_grads)

    @classmethod
    def load_from_checkpoint(
        cls,
        checkpoint_path: Union[str, Path, IO],
        map_location: Any = None,
        hparams_file: Optional[Union[str, Path]] = None,
        strict: Optional[bool] = None,
        weights_only: Optional[bool] = None,
        **kwargs: Any,
    ) -> "LightningModule":
        """Build the module from a checkpoint's hyperparameters (``kwargs`` override them) and load its weights."""
        from fastlit.checkpoint.loading import load_from_checkpoint

        return load_from_checkpoint(cls, checkpoint_path, map_location, hparams_file, strict, weights_only, **kwargs)


# Names Lightning's module also exports, imported on first use (see fastlit._reexport).
from fastlit._reexport import lazy_exports  # noqa: E402

__getattr__ = lazy_exports(__name__, {
    "Callback": "fastlit.callbacks.callback",
    "GradClipAlgorithmType": "fastlit.utilities.enums",
    "Logger": "fastlit.loggers.logger",
    "RequirementCache": "fastlit.utilities.imports",
    "apply_to_collection": "fastlit.utilities.apply_func",
    "convert_to_tensors": "fastlit.utilities.apply_func",
    "get_filesystem": "fastlit.utilities.cloud_io",
    "is_param_in_hook_signature": "fastlit.utilities.signature_utils",
    "log": "@logger",
    "rank_zero_deprecation": "fastlit.utilities.rank_zero",
    "warning_cache": "@warning_cache",
})
