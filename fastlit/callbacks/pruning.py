"""``ModelPruning``: prune parameters during training with ``torch.nn.utils.prune`` (Lightning 2.x's callback:
same arguments, errors, log lines and checkpoint contents).

Pruning re-parametrises ``module.weight`` as ``weight_orig * weight_mask`` through a forward pre-hook; the
``weight_orig`` parameter is the very ``Parameter`` object the optimizer already holds, so plain and fused
optimizers keep updating it without being rebuilt.
"""
from __future__ import annotations

import inspect
import logging
from collections.abc import Sequence
from copy import deepcopy
from functools import partial
from typing import Any, Callable, Optional, Union

import torch.nn.utils.prune as pytorch_prune
from torch import Tensor, nn

from fastlit.callbacks.callback import Callback
from fastlit.core.module import LightningModule
from fastlit.utilities.exceptions import MisconfigurationException
from fastlit.utilities.rank_zero import rank_zero_debug, rank_zero_only

log = logging.getLogger(__name__)

# name -> (function for per-parameter pruning, BasePruningMethod class for global pruning)
_PRUNERS = {
    "ln_structured": (pytorch_prune.ln_structured, pytorch_prune.LnStructured),
    "l1_unstructured": (pytorch_prune.l1_unstructured, pytorch_prune.L1Unstructured),
    "random_structured": (pytorch_prune.random_structured, pytorch_prune.RandomStructured),
    "random_unstructured": (pytorch_prune.random_unstructured, pytorch_prune.RandomUnstructured),
}
_PYTORCH_PRUNING_FUNCTIONS = {name: fns[0] for name, fns in _PRUNERS.items()}
_PYTORCH_PRUNING_METHOD = {name: fns[1] for name, fns in _PRUNERS.items()}

_PARAM_TUPLE = tuple[nn.Module, str]
_PARAM_LIST = Sequence[_PARAM_TUPLE]
# containers hold other modules' parameters, never their own: pruning targets the leaves
_MODULE_CONTAINERS = (LightningModule, nn.Sequential, nn.ModuleList, nn.ModuleDict)

Schedule = Union[bool, Callable[[int], bool]]


class ModelPruning(Callback):
    """Prune model parameters at the end of each training (or validation) epoch.

    Args:
        pruning_fn: a name (``"l1_unstructured"``, ``"random_unstructured"``, ``"ln_structured"``,
            ``"random_structured"``) or a ``torch.nn.utils.prune.BasePruningMethod`` subclass (global only).
        parameters_to_prune: ``(module, "weight"|"bias")`` pairs; empty means every weight/bias of the model's leaves.
        parameter_names: which parameter names to collect when ``parameters_to_prune`` is empty.
        use_global_unstructured: prune all parameters together (one global threshold) instead of each one.
        amount: fraction (float), count (int), or ``f(epoch) -> amount``.
        apply_pruning: whether to prune, or ``f(epoch) -> bool``.
        make_pruning_permanent: remove the re-parametrisation at train end and in saved checkpoints.
        use_lottery_ticket_hypothesis: after pruning, reset the kept weights to their initial values (or
            ``f(epoch) -> bool``).
        resample_parameters: with the lottery ticket, draw fresh initial values instead of the original ones.
        pruning_dim: dimension for the structured methods.
        pruning_norm: norm for ``ln_structured``.
        verbose: 0 quiet, 1 log the overall sparsity, 2 also per parameter.
        prune_on_train_epoch_end: prune at the end of the training epoch (else of the validation epoch).
    """

    PARAMETER_NAMES = ("weight", "bias")

    def __init__(
        self,
        pruning_fn: Union[Callable, str],
        parameters_to_prune: _PARAM_LIST = (),
        parameter_names: Optional[list[str]] = None,
        use_global_unstructured: bool = True,
        amount: Union[int, float, Callable[[int], Union[int, float]]] = 0.5,
        apply_pruning: Schedule = True,
        make_pruning_permanent: bool = True,
        use_lottery_ticket_hypothesis: Schedule = True,
        resample_parameters: bool = False,
        pruning_dim: Optional[int] = None,
        pruning_norm: Optional[int] = None,
        verbose: int = 0,
        prune_on_train_epoch_end: bool = True,
    ) -> None:
        self._use_global_unstructured = use_global_unstructured
        self._parameters_to_prune = parameters_to_prune
        self._use_lottery_ticket_hypothesis = use_lottery_ticket_hypothesis
        self._resample_parameters = resample_parameters
        self._prune_on_train_epoch_end = prune_on_train_epoch_end
        self._parameter_names = parameter_names or self.PARAMETER_NAMES
        self._global_kwargs: dict[str, Any] = {}
        self._original_layers: Optional[dict[int, dict[str, Any]]] = None
        self._pruning_method_name: Optional[str] = None
        for name in self._parameter_names:
            if name not in self.PARAMETER_NAMES:
                raise MisconfigurationException(
                    f"The provided `parameter_names` name: {name} isn't in {self.PARAMETER_NAMES}")
        self.pruning_fn = self._resolve_pruning_fn(pruning_fn, use_global_unstructured, pruning_dim, pruning_norm)
        if use_global_unstructured and self.pruning_fn.PRUNING_TYPE != "unstructured":
            raise MisconfigurationException(
                'Only the "unstructured" PRUNING_TYPE is supported with `use_global_unstructured=True`.'
                f" Found method {self.pruning_fn} of type {self.pruning_fn.PRUNING_TYPE}. ")
        self._apply_pruning = apply_pruning
        self._make_pruning_permanent = make_pruning_permanent
        if not (isinstance(amount, (int, float)) or callable(amount)):
            raise MisconfigurationException(
                "`amount` should be provided and be either an int, a float or Callable function.")
        self.amount = amount
        if verbose not in (0, 1, 2):
            raise MisconfigurationException("`verbose` must be any of (0, 1, 2)")
        self._verbose = verbose

    def _resolve_pruning_fn(self, pruning_fn: Union[Callable, str], use_global: bool, dim: Optional[int],
                            norm: Optional[int]) -> Any:
        if isinstance(pruning_fn, str):
            name = pruning_fn.lower()
            if name not in _PRUNERS:
                raise MisconfigurationException(
                    f"The provided `pruning_fn` {name} isn't available in PyTorch's"
                    f" built-in functions: {list(_PRUNERS)} ")
            kwargs: dict[str, Any] = {}
            if name.endswith("_structured"):
                if dim is None:
                    raise MisconfigurationException(
                        "When requesting `structured` pruning, the `pruning_dim` should be provided.")
                if name == "ln_structured":
                    if norm is None:
                        raise MisconfigurationException(
                            "When requesting `ln_structured` pruning, the `pruning_norm` should be provided.")
                    kwargs["n"] = norm
                kwargs["dim"] = dim
            return self._create_pruning_fn(name, **kwargs)
        if self._is_pruning_method(pruning_fn):
            if not use_global:
                raise MisconfigurationException(
                    "PyTorch `BasePruningMethod` is currently only supported with `use_global_unstructured=True`.")
            return pruning_fn
        raise MisconfigurationException(
            f"`pruning_fn` is expected to be a str in {list(_PRUNERS)}"
            f" or a PyTorch `BasePruningMethod`. Found: {pruning_fn}."
            " HINT: if passing a `BasePruningMethod`, pass the class, not an instance")

    def filter_parameters_to_prune(self, parameters_to_prune: _PARAM_LIST = ()) -> _PARAM_LIST:
        """Override to choose which of the collected ``(module, name)`` pairs are pruned."""
        return parameters_to_prune

    def _create_pruning_fn(self, pruning_fn: str, **kwargs: Any) -> Union[Callable, pytorch_prune.BasePruningMethod]:
        """The ``BasePruningMethod`` class for global pruning (its kwargs kept for each call), else torch's
        per-parameter function with the kwargs bound."""
        function, method = _PRUNERS[pruning_fn]
        chosen = method if self._use_global_unstructured else function
        # kept now: a functools.partial has no __name__ for the log lines
        self._pruning_method_name = chosen.__name__
        if self._use_global_unstructured:
            self._global_kwargs = kwargs
            return chosen
        return ModelPruning._wrap_pruning_fn(chosen, **kwargs)

    @staticmethod
    def _wrap_pruning_fn(pruning_fn: Callable, **kwargs: Any) -> Callable:
        return partial(pruning_fn, **kwargs)

    def make_pruning_permanent(self, module: nn.Module) -> None:
        """Fold every pruning mask into its parameter and drop the re-parametrisation hooks."""
        for sub in module.modules():
            for key, hook in list(sub._forward_pre_hooks.items()):
                if isinstance(hook, pytorch_prune.BasePruningMethod):
                    hook.remove(sub)
                    del sub._forward_pre_hooks[key]

    @staticmethod
    def _copy_param(new: nn.Module, old: nn.Module, name: str) -> None:
        # a pruned parameter lives on as `<name>_orig`; write the values there so the mask stays applied
        dst = getattr(new, name + "_orig", None)
        if dst is None:
            dst = getattr(new, name)
        src = getattr(old, name)
        if isinstance(dst, Tensor) and isinstance(src, Tensor):
            dst.data = src.data.to(dst.device)

    def apply_lottery_ticket_hypothesis(self) -> None:
        """Reset the kept weights to their values at set-up (or to a fresh draw with ``resample_parameters``):
        step 4 of the lottery ticket algorithm (Frankle & Carbin, 2019)."""
        assert self._original_layers is not None
        for ref in self._original_layers.values():
            source = ref["data"]
            if self._resample_parameters and callable(getattr(source, "reset_parameters", None)):
                source = deepcopy(source)  # the kept copy stays the original draw
                source.reset_parameters()
            for i, name in ref["names"]:
                module, _ = self._parameters_to_prune[i]
                self._copy_param(module, source, name)

    def _apply_local_pruning(self, amount: Union[int, float]) -> None:
        for module, name in self._parameters_to_prune:
            self.pruning_fn(module, name=name, amount=amount)

    def _resolve_global_kwargs(self, amount: Union[int, float]) -> dict[str, Any]:
        self._global_kwargs["amount"] = amount
        accepted = set(inspect.signature(self.pruning_fn).parameters) - {"self"}
        return {k: v for k, v in self._global_kwargs.items() if k in accepted}

    def _apply_global_pruning(self, amount: Union[int, float]) -> None:
        pytorch_prune.global_unstructured(self._parameters_to_prune, pruning_method=self.pruning_fn,
                                          **self._resolve_global_kwargs(amount))

    @staticmethod
    def _get_pruned_stats(module: nn.Module, name: str) -> tuple[int, int]:
        mask = getattr(module, f"{name}_mask", None)
        if mask is None:
            return 0, 1
        return (mask == 0).sum().item(), mask.numel()

    def apply_pruning(self, amount: Union[int, float]) -> None:
        """Prune ``parameters_to_prune`` by ``amount`` (globally or per parameter)."""
        before = [self._get_pruned_stats(m, n) for m, n in self._parameters_to_prune] if self._verbose else None
        if self._use_global_unstructured:
            self._apply_global_pruning(amount)
        else:
            self._apply_local_pruning(amount)
        if before is not None:
            after = [self._get_pruned_stats(m, n) for m, n in self._parameters_to_prune]
            self._log_sparsity_stats(before, after, amount=amount)

    @rank_zero_only
    def _log_sparsity_stats(self, prev: list[tuple[int, int]], curr: list[tuple[int, int]],
                            amount: Union[int, float] = 0) -> None:
        total = sum(n for _, n in curr)
        zeros_before = sum(z for z, _ in prev)
        zeros_after = sum(z for z, _ in curr)
        log.info(f"Applied `{self._pruning_method_name}`. Pruned:"
                 f" {zeros_before}/{total} ({zeros_before / total:.2%}) ->"
                 f" {zeros_after}/{total} ({zeros_after / total:.2%})")
        if self._verbose != 2:
            return
        for (module, name), (z0, n0), (z1, n1) in zip(self._parameters_to_prune, prev, curr):
            log.info(f"Applied `{self._pruning_method_name}` to `{module!r}.{name}` with amount={amount}. Pruned:"
                     f" {z0} ({z0 / n0:.2%}) -> {z1} ({z1 / n1:.2%})")

    def setup(self, trainer: Any, pl_module: LightningModule, stage: str) -> None:
        collected = self.sanitize_parameters_to_prune(pl_module, self._parameters_to_prune,
                                                      parameter_names=self._parameter_names)
        self._parameters_to_prune = self.filter_parameters_to_prune(collected)
        if not self._use_lottery_ticket_hypothesis:
            return
        # one copy of each module's initial values, with the indices of its pairs in parameters_to_prune
        self._original_layers = {}
        for i, (module, name) in enumerate(self._parameters_to_prune):
            ref = self._original_layers.setdefault(id(module), {"data": deepcopy(module), "names": []})
            ref["names"].append((i, name))

    def _run_pruning(self, current_epoch: int) -> None:
        prune = self._apply_pruning(current_epoch) if callable(self._apply_pruning) else self._apply_pruning
        amount = self.amount(current_epoch) if callable(self.amount) else self.amount
        if not prune or not amount:
            return
        self.apply_pruning(amount)
        lottery = self._use_lottery_ticket_hypothesis
        if lottery(current_epoch) if callable(lottery) else lottery:
            self.apply_lottery_ticket_hypothesis()

    def on_train_epoch_end(self, trainer: Any, pl_module: LightningModule) -> None:
        if self._prune_on_train_epoch_end:
            rank_zero_debug("`ModelPruning.on_train_epoch_end`. Applying pruning")
            self._run_pruning(pl_module.current_epoch)

    def on_validation_epoch_end(self, trainer: Any, pl_module: LightningModule) -> None:
        if not trainer.sanity_checking and not self._prune_on_train_epoch_end:
            rank_zero_debug("`ModelPruning.on_validation_epoch_end`. Applying pruning")
            self._run_pruning(pl_module.current_epoch)

    def on_train_end(self, trainer: Any, pl_module: LightningModule) -> None:
        if self._make_pruning_permanent:
            rank_zero_debug("`ModelPruning.on_train_end`. Pruning is made permanent for this checkpoint")
            self.make_pruning_permanent(pl_module)

    def _make_pruning_permanent_on_state_dict(self, pl_module: LightningModule) -> dict[str, Any]:
        """The module's state dict with each ``<name>_orig``/``<name>_mask`` pair folded into ``<name>`` (on the
        CPU); the live module keeps its masks so training goes on unchanged."""
        state_dict = pl_module.state_dict()
        for name in [k[: -len("_mask")] for k in state_dict if k.endswith("_mask")]:
            orig = state_dict.pop(name + "_orig")
            mask = state_dict.pop(name + "_mask")
            state_dict[name] = mask.to(dtype=orig.dtype) * orig
        for key, value in state_dict.items():
            if isinstance(value, Tensor):
                state_dict[key] = value.cpu()
        return state_dict

    def on_save_checkpoint(self, trainer: Any, pl_module: LightningModule, checkpoint: dict[str, Any]) -> None:
        if self._make_pruning_permanent:
            rank_zero_debug("`ModelPruning.on_save_checkpoint`. Pruning is made permanent for this checkpoint")
            checkpoint["state_dict"] = self._make_pruning_permanent_on_state_dict(pl_module)

    @staticmethod
    def sanitize_parameters_to_prune(pl_module: LightningModule, parameters_to_prune: _PARAM_LIST = (),
                                     parameter_names: Sequence[str] = ()) -> _PARAM_LIST:
        """Check ``parameters_to_prune`` against the model, or collect every ``parameter_names`` parameter of its
        leaf modules when it is empty.

        Raises:
            MisconfigurationException: a listed module/parameter is not in the model, or the list is malformed.
        """
        names = parameter_names or ModelPruning.PARAMETER_NAMES
        leaves = [m for m in pl_module.modules() if not isinstance(m, _MODULE_CONTAINERS)]
        if not parameters_to_prune:
            return [(m, n) for n in names for m in leaves if isinstance(getattr(m, n, None), nn.Parameter)]
        well_formed = isinstance(parameters_to_prune, (list, tuple)) and all(
            len(p) == 2 and isinstance(p[0], nn.Module) and isinstance(p[1], str) for p in parameters_to_prune)
        if not well_formed:
            raise MisconfigurationException(
                "The provided `parameters_to_prune` should either be list of tuple"
                " with 2 elements: (nn.Module, parameter_name_to_prune) or None")
        missing_modules = [m for m, _ in parameters_to_prune if m not in leaves]
        missing_parameters = [n for m, n in parameters_to_prune if m in leaves and not hasattr(m, n)]
        if missing_modules or missing_parameters:
            raise MisconfigurationException(
                "Some provided `parameters_to_prune` don't exist in the model."
                f" Found missing modules: {missing_modules} and missing parameters: {missing_parameters}")
        return parameters_to_prune

    @staticmethod
    def _is_pruning_method(method: Any) -> bool:
        return inspect.isclass(method) and issubclass(method, pytorch_prune.BasePruningMethod)


# Names Lightning's module also exports, imported on first use (see fastlit._reexport).
from fastlit._reexport import lazy_exports  # noqa: E402

__getattr__ = lazy_exports(__name__, {
    "MisconfigurationException": "fastlit.utilities.exceptions",
    "apply_to_collection": "fastlit.utilities.apply_func",
})
