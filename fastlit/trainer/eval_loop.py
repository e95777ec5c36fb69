"""Validation, test and predict loops (also the sanity check and validation during ``fit``)."""
from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Optional

import torch

from fastlit.core.module import LightningModule
from fastlit.trainer import data as data_mod
from fastlit.trainer import legacy
from fastlit.trainer.metrics import Results
from fastlit.trainer.states import RunningStage
from fastlit.utilities.apply_func import move_data_to_device
from fastlit.utilities.model_helpers import is_overridden
from fastlit.utilities.rank_zero import WarningCache
from fastlit.utilities.signature_utils import is_param_in_hook_signature, step_takes_batch_idx

if TYPE_CHECKING:
    from fastlit.trainer.trainer import Trainer

_warnings = WarningCache()

_STEP = {"val": "validation_step", "test": "test_step", "predict": "predict_step"}
_HOOK = {"val": "validation", "test": "test", "predict": "predict"}
def run_sanity_check(t: Trainer) -> None:
    """Run a few validation batches before training so a broken ``validation_step`` fails fast."""
    stage, prev_results = t.state.stage, t._results
    # The sanity check (building the val loaders included) must not change the training run's random stream
    # (Lightning's isolate_rng).
    cpu_state = torch.get_rng_state()
    cuda_state = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None
    import random

    py_state = random.getstate()
    t.sanity_checking = True
    t.state.stage = RunningStage.SANITY_CHECKING
    try:
        t._call("on_sanity_check_start")
        data = t._data
        if not data.val_ready:
            data.setup_val()
        _run_eval(t, "val", data.val_loaders, data.num_sanity_val_batches, fitting=True)
        t._call("on_sanity_check_end")
    finally:
        torch.set_rng_state(cpu_state)
        if cuda_state is not None:
            torch.cuda.set_rng_state_all(cuda_state)
        random.setstate(py_state)
    t._callback_metrics, t._logged_metrics, t._progress_bar_metrics = {}, {}, {}
    t.sanity_checking = False
    t.state.stage, t._results = stage, prev_results


def run_validation_in_fit(t: Trainer, accumulating: bool) -> None:
    module = t.lightning_module
    train_results = t._results
    t._refresh_step_metrics()  # callbacks at validation end see the training step values too (Lightning)
    if not accumulating:
        module.on_validation_model_zero_grad()
    data = t._data
    if data.val_stale(t.reload_dataloaders_every_n_epochs, t.current_epoch):  # Lightning reloads them too
        data.setup_val()
    t.state.stage = RunningStage.VALIDATING
    _run_eval(t, "val", data.val_loaders, data.num_val_batches, fitting=True)
    t.state.stage = RunningStage.TRAINING
    t._results = train_results
    module._current_fx_name = "training_step"


def run_entry(t: Trainer, key: str, given: Any) -> list[dict[str, float]]:
    """``trainer.validate``/``trainer.test``: one epoch over each loader; print and return the metrics."""
    data = t._data
    loaders = data.setup_eval(key, given)
    counts = data.num_val_batches if key == "val" else data.num_test_batches
    step_name = _STEP[key]
    if not is_overridden(step_name, t.lightning_module, LightningModule):
        from fastlit.utilities.exceptions import MisconfigurationException

        raise MisconfigurationException(f"No `{step_name}()` method defined to run `Trainer.{t.state.fn.value}`.")
    if not loaders:
        from fastlit.utilities.exceptions import MisconfigurationException

        raise MisconfigurationException(
            f"No `{key}_dataloader()` method defined to run `Trainer.{t.state.fn.value}`. Pass `dataloaders=` or "
            f"define `{key}_dataloader` in your module/datamodule.")
    out = _run_eval(t, key, loaders, counts, fitting=False)
    t._results = None
    if t._eval_verbose and t.is_global_zero:
        _print_results(out, "Validate" if key == "val" else "Test")
    return out


def _run_eval(t: Trainer, key: str, loaders: list[Any], counts: list[Any], fitting: bool) -> list[dict[str, float]]:
    # the whole stage, from on_*_model_eval and on_*_start to on_*_end, runs without autograd, as in Lightning;
    # validation inside fit uses no_grad (tensors made there may be used by training later)
    grad_ctx = torch.inference_mode if t.inference_mode and not fitting else torch.no_grad
    with grad_ctx():
        return _run_eval_stage(t, key, loaders, counts, fitting)


def _run_eval_stage(t: Trainer, key: str, loaders: list[Any], counts: list[Any],
                    fitting: bool) -> list[dict[str, float]]:
    module: LightningModule = t.lightning_module
    hook = _HOOK[key]
    step_fn = getattr(module, _STEP[key])
    with_idx = step_takes_batch_idx(step_fn)  # Lightning passes batch_idx only if the step can take it
    hook_prefix = {"val": "validation", "test": "test"}.get(key, key)
    step_fn = legacy.with_step_end(step_fn, legacy.legacy_hook(module, f"{hook_prefix}_step_end"))
    epoch_end = legacy.legacy_hook(module, f"{hook_prefix}_epoch_end")
    outputs: Optional[list[list[Any]]] = [[] for _ in loaders] if epoch_end is not None else None
    results = Results(training=False, reduce=t.strategy.reduce if t.world_size > 1 else None)
    t._results = results
    device = t.strategy.root_device
    transfer = data_mod.batch_transfer(t)
    hooks = t._hooks
    h_start, h_end = hooks[f"on_{hook}_batch_start"], hooks[f"on_{hook}_batch_end"]
    multi = len(loaders) > 1
    _check_dataloader_idx(module, key, multi)
    mixed = t.precision_plugin.autocast
    modes = _capture_modes(module)
    getattr(module, f"on_{hook}_model_eval")()
    t._call(f"on_{hook}_start")
    t._call(f"on_{hook}_epoch_start")
    grad_ctx = torch.inference_mode if t.inference_mode and not fitting else torch.no_grad
    per_loader: list[dict[str, Any]] = []
    returned_metrics: Optional[bool] = None  # 1.x style: metrics returned from the step instead of self.log
    step_metrics = not t.sanity_checking  # on_step=True values reach the trainer's dicts and loggers per batch
    with grad_ctx():
        for dl_idx, (loader, n) in enumerate(zip(loaders, counts)):
            results.dataloader_idx = dl_idx if multi else None
            if n == 0:
                continue
            extra = (dl_idx,) if multi else ()  # dataloader_idx reaches the step and batch hooks with >1 loader
            for batch_idx, batch in _limited(loader, n):
                batch = transfer(batch, dl_idx) if transfer is not None else move_data_to_device(batch, device)
                results.batch = batch
                if h_start:
                    t._call(f"on_{hook}_batch_start", batch, batch_idx, *extra)
                module._current_fx_name = _STEP[key]
                with mixed():
                    out = step_fn(batch, batch_idx, *extra) if with_idx else step_fn(batch, *extra)
                if outputs is not None:
                    outputs[dl_idx].append(out)
                if returned_metrics is None:
                    returned_metrics = _uses_returned_metrics(out, results, _STEP[key])
                if returned_metrics:
                    _log_returned(results, _STEP[key], out)
                if h_end:
                    t._call(f"on_{hook}_batch_end", out, batch, batch_idx, *extra)
                if step_metrics:
                    # Lightning logs these at step = batches this dataloader has run since its setup
                    if results.has_step_metrics():
                        step_log, step_pbar, _ = results.metrics(on_step=True)
                        t._logged_metrics.update(step_log)
                        t._progress_bar_metrics.update(step_pbar)
                        t._emit(step_log, step=t._eval_steps_logged[dl_idx])
                    t._eval_steps_logged[dl_idx] += 1
            results.batch = None
    results.dataloader_idx = None
    t._loop.epoch_end_phase = True
    if epoch_end is not None:
        module._current_fx_name = f"on_{hook}_epoch_end"
        epoch_end(outputs[0] if len(outputs) == 1 else outputs)
    t._call(f"on_{hook}_epoch_end")
    log = {} if t.sanity_checking else t._epoch_end_metrics(results)
    if not t.sanity_checking:
        t._emit(log)
    results.reset()  # resets logged torchmetrics objects for the next evaluation, as Lightning does
    t._loop.epoch_end_phase = False
    t._call(f"on_{hook}_end")
    # Lightning restores each submodule's own mode (a frozen BatchNorm stays in eval) unless the user overrides
    # the hook
    train_hook = "on_validation_model_train" if key == "val" else "on_test_model_train"
    if is_overridden(train_hook, module, LightningModule):
        getattr(module, train_hook)()
    else:
        _restore_modes(module, modes)
    module._current_fx_name = None
    # one dict per dataloader: its own suffixed metrics plus the ones logged without a dataloader index
    for dl_idx in range(len(loaders)):
        suffix = Results.DATALOADER_SUFFIX.format(dl_idx)
        d = {}
        for k, v in log.items():
            if not multi or "/dataloader_idx_" not in k or k.endswith(suffix):
                d[k] = v.item() if hasattr(v, "item") else v
        per_loader.append(d)
    return per_loader


def run_predict(t: Trainer, given: Any) -> Optional[list[Any]]:
    loaders = t._data.setup_eval("predict", given)
    # from on_predict_model_eval/on_predict_start to on_predict_end without autograd, as in Lightning
    with (torch.inference_mode if t.inference_mode else torch.no_grad)():
        return _run_predict_stage(t, loaders)


def _run_predict_stage(t: Trainer, loaders: list[Any]) -> Optional[list[Any]]:
    module: LightningModule = t.lightning_module
    if not loaders:
        from fastlit.utilities.exceptions import MisconfigurationException

        raise MisconfigurationException("No `predict_dataloader()` method defined to run `Trainer.predict`.")
    device = t.strategy.root_device
    if not is_overridden("predict_step", module, LightningModule) and not is_overridden("forward", module, LightningModule):
        from fastlit.utilities.exceptions import MisconfigurationException

        raise MisconfigurationException("`Trainer.predict` requires `forward` method to run.")
    transfer = data_mod.batch_transfer(t)
    multi = len(loaders) > 1
    _check_dataloader_idx(module, "predict", multi)
    predict_step = module.predict_step
    with_idx = step_takes_batch_idx(predict_step)
    keep = t._return_predictions
    modes = _capture_modes(module)
    module.on_predict_model_eval()
    t._call("on_predict_start")
    t._call("on_predict_epoch_start")
    outputs: list[list[Any]] = []
    grad_ctx = torch.inference_mode if t.inference_mode else torch.no_grad
    with grad_ctx():
        for dl_idx, (loader, n) in enumerate(zip(loaders, t.num_predict_batches)):
            preds: list[Any] = []
            extra = (dl_idx,) if multi else ()
            for batch_idx, batch in _limited(loader, n):
                batch = transfer(batch, dl_idx) if transfer is not None else move_data_to_device(batch, device)
                t._call("on_predict_batch_start", batch, batch_idx, *extra)
                module._current_fx_name = "predict_step"
                with t.precision_plugin.autocast():
                    out = predict_step(batch, batch_idx, *extra) if with_idx else predict_step(batch, *extra)
                t._call("on_predict_batch_end", out, batch, batch_idx, *extra)
                if keep:
                    preds.append(move_data_to_device(out, "cpu") if device.type != "cpu" else out)
            outputs.append(preds)
    t._call("on_predict_epoch_end")
    t._call("on_predict_end")
    _restore_modes(module, modes)
    module._current_fx_name = None
    if not keep:
        return None
    return outputs[0] if len(outputs) == 1 else outputs


_STAGE_PREFIX = {"validation_step": "val", "test_step": "test"}


def _uses_returned_metrics(out: Any, results: Results, fx: str) -> bool:
    """Lightning 1.x tutorials return ``{"val_loss": loss}`` from the step instead of calling ``self.log``.

    Lightning 2.x silently ignores that (and then ``ModelCheckpoint(monitor="val_loss")`` fails). When a step
    logs nothing itself and returns scalars named after its stage (``val*`` from ``validation_step``, ``test*``
    from ``test_step``, the 1.x convention), fastlit logs them as ``self.log`` would, and says so. Other returned
    dicts (e.g. ``BoringModel``'s ``{"y": ...}``) are left alone, as in Lightning 2.x.
    """
    if not isinstance(out, Mapping) or results.items:
        return False
    names = _returned_metric_names(out, fx)
    if names:
        _warnings.warn(
            f"`{fx}` returned {names} without calling `self.log`: that is Lightning 1.x behaviour. fastlit logs "
            f"them for you (epoch means); in 2.x style call `self.log(name, value)` in `{fx}` instead.",
            category=DeprecationWarning)
    return bool(names)


def _returned_metric_names(out: Any, fx: str) -> list[str]:
    prefix = _STAGE_PREFIX.get(fx)
    if prefix is None or not isinstance(out, Mapping):
        return []
    return [k for k, v in out.items() if isinstance(k, str) and k.startswith(prefix) and _is_scalar(v)]


def _is_scalar(v: Any) -> bool:
    return (isinstance(v, torch.Tensor) and v.numel() == 1) or (isinstance(v, (int, float)) and not isinstance(v, bool))


def _log_returned(results: Results, fx: str, out: Any) -> None:
    for k in _returned_metric_names(out, fx):
        results.log(fx, k, out[k], prog_bar=False, logger=True, on_step=None, on_epoch=None, reduce_fx="mean")


def _check_dataloader_idx(module: LightningModule, key: str, multi: bool) -> None:
    """Lightning's rule, checked once per run: with several loaders the step and batch hooks must take
    ``dataloader_idx`` positionally (by that name, or ``*args``); with one loader they may, but only with a
    default."""
    import inspect

    hook = _HOOK[key]
    for name in (_STEP[key], f"on_{hook}_batch_start", f"on_{hook}_batch_end"):
        if not is_overridden(name, module, LightningModule):
            continue
        params = inspect.signature(getattr(module, name)).parameters
        takes = is_param_in_hook_signature(getattr(module, name), "dataloader_idx")
        where = f"`{type(module).__name__}.{name}()`"
        if multi and not takes:
            raise RuntimeError(f"You provided multiple `{key}_dataloader`, but no `dataloader_idx` argument in "
                               f"{where}. Try adding `dataloader_idx=0` to its signature.")
        if not multi and "dataloader_idx" in params and params["dataloader_idx"].default is inspect.Parameter.empty:
            raise RuntimeError(f"You provided only a single `{key}_dataloader`, but have included `dataloader_idx` "
                               f"in {where}. Either remove the argument or give it a default value i.e. "
                               "`dataloader_idx=0`.")


def _limited(loader: Any, n: Any) -> Any:
    """(index, batch) for the first ``n`` batches, without fetching batch ``n`` (that would advance samplers)."""
    return enumerate(loader) if n == float("inf") else zip(range(int(n)), loader)


def _capture_modes(module: torch.nn.Module) -> dict[str, bool]:
    return {name: m.training for name, m in module.named_modules()}


def _restore_modes(module: torch.nn.Module, modes: dict[str, bool]) -> None:
    for name, m in module.named_modules():
        if name in modes:
            m.training = modes[name]


def _print_results(results: list[dict[str, float]], stage: str) -> None:
    """Lightning's plain-text results table: one row per metric (the ``/dataloader_idx_N`` suffix dropped, since
    the column says which loader), one column per dataloader, cells at least 25 wide, bars as wide as the
    terminal, trailing blanks stripped."""
    per_loader = [{k.split("/dataloader_idx_")[0]: v for k, v in r.items()} for r in results]
    metrics = sorted({k for r in per_loader for k in r})
    if not metrics:
        return
    headers = [f"DataLoader {i}" for i in range(len(results))]
    term = shutil.get_terminal_size((120, 30)).columns or 120
    width = int(min(max(max(map(len, metrics)), max(map(len, headers)), 25), term / 2))
    per_table = max(1, int((term - width) / width))
    half = int(term / 2)
    try:
        "─".encode(sys.stdout.encoding or "utf-8")
        bar = "─" * term
    except UnicodeEncodeError:
        bar = "-" * term
    for start in range(0, len(headers), per_table):
        loaders = per_loader[start:start + per_table]
        cell = f"{{:^{width}}}" * (len(loaders) + 1)
        lines = [bar, cell.format(f"{stage} metric", *headers[start:start + per_table]).rstrip(), bar]
        for name in metrics:
            values = [str(r[name]) if name in r else " " for r in loaders]
            while len(name) > half:  # very long names wrap over several lines
                lines.append(cell.format(name[:half], *values).rstrip())
                name, values = name[half:], [" "] * len(values)
            lines.append(cell.format(name, *values).rstrip())
        lines.append(bar)
        print(os.linesep.join(lines))
