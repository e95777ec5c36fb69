"""The precision plugin is the one seam of the optimizer step: every route (the automatic loop's plain and
scaled steps, a user's ``optimizer_step`` with its closure, manual optimization, clipping inside a fused step)
runs unscale -> on_before_optimizer_step -> clip -> step -> skipped-step count -> scaler update in that order,
and the plain step pays nothing for it. fp16 loss scaling needs CUDA; on CPU torch's CPU GradScaler is plugged
into the plugin (as tests/reliability/test_skipped_steps.py does)."""
import math
from typing import Any

import pytest
import torch

import fastlit as pl
from fastlit._ext import EXT_AVAILABLE
from fastlit.trainer.precision import Precision
from tests.helpers import models, quiet, randn_loader


class _Scaler(torch.amp.GradScaler):
    """torch's CPU scaler, recording unscale_ and update into ``events``."""

    def __init__(self, events: list) -> None:
        super().__init__("cpu", init_scale=2.0 ** 8)
        self.events = events

    def unscale_(self, optimizer: Any) -> None:
        self.events.append("unscale")
        super().unscale_(optimizer)

    def update(self, new_scale: Any = None) -> None:
        self.events.append("update")
        super().update(new_scale)


def _model(events: list, manual: bool = False, override_step: bool = False, inf_at: tuple = ()) -> Any:
    """A BoringModel whose hooks, clipping and (unfused) SGD steps record into ``events``."""

    class RecSGD(torch.optim.SGD):
        def step(self, closure: Any = None) -> Any:
            out = super().step(closure)
            events.append("step")
            return out

    class M(models(pl).BoringModel):
        def __init__(self) -> None:
            super().__init__()
            self.automatic_optimization = not manual

        def training_step(self, batch: Any, batch_idx: int) -> Any:
            loss = self.loss(batch) * (math.inf if batch_idx in inf_at else 1.0)
            if not manual:
                return loss
            opt = self.optimizers()
            opt.zero_grad()
            self.manual_backward(loss)
            self.clip_gradients(opt, 0.5, "norm")
            opt.step()

        def configure_optimizers(self) -> Any:
            return RecSGD(self.parameters(), lr=0.1)

        def on_before_backward(self, loss: Any) -> None:
            events.append("on_before_backward")

        def on_after_backward(self) -> None:
            events.append("on_after_backward")

        def on_before_optimizer_step(self, optimizer: Any) -> None:
            events.append("on_before_optimizer_step")

    if override_step:
        def optimizer_step(self: Any, epoch: int, batch_idx: int, optimizer: Any, optimizer_closure: Any = None) -> None:
            events.append("optimizer_step")
            optimizer.step(closure=optimizer_closure)

        M.optimizer_step = optimizer_step
    return M()


def _fit(model: Any, events: list, scaler: bool, steps: int = 2, **kw: Any) -> pl.Trainer:
    trainer = pl.Trainer(**quiet(max_steps=steps, logger=False, enable_checkpointing=False, limit_val_batches=0,
                                 num_sanity_val_steps=0, fused_optimizer=False, **kw))
    if scaler:
        trainer.precision_plugin.scaler = _Scaler(events)
    trainer.fit(model, randn_loader(16))
    return trainer


def _spy_clips(monkeypatch: Any, sink: list, entry: Any = None) -> None:
    """Append ``entry`` (default: ``(algorithm, value)``) to ``sink`` for every separate clip pass (the plugin's
    clip_gradients calls fastlit.optim's clip functions)."""
    import fastlit.optim as optim

    for algo, name in (("norm", "clip_grad_norm_"), ("value", "clip_grad_value_")):
        def spy(params: Any, val: Any, *a: Any, _fn: Any = getattr(optim, name), _algo: str = algo, **k: Any) -> Any:
            sink.append((_algo, val) if entry is None else entry)
            return _fn(params, val, *a, **k)

        monkeypatch.setattr(optim, name, spy)


@pytest.fixture
def clip_calls(monkeypatch: Any) -> list:
    calls: list = []
    _spy_clips(monkeypatch, calls)
    return calls


@pytest.mark.parametrize("scaler", [False, True], ids=["no_scaler", "scaler"])
def test_automatic_step_order(scaler: bool, monkeypatch: Any) -> None:
    events: list = []
    _spy_clips(monkeypatch, events, "clip")
    _fit(_model(events), events, scaler, steps=1, gradient_clip_val=0.5)
    expected = ["on_before_backward", "on_after_backward"] + (["unscale"] if scaler else []) + [
        "on_before_optimizer_step", "clip", "step"] + (["update"] if scaler else [])
    assert events == expected


@pytest.mark.parametrize("scaler", [False, True], ids=["no_scaler", "scaler"])
def test_user_optimizer_step_route_order(scaler: bool, monkeypatch: Any) -> None:
    # the closure (training_step, backward) runs inside optimizer.step without a scaler (as torch calls it) and
    # before the unscale with one; either way on_before_optimizer_step and clipping follow it, then the step
    events: list = []
    _spy_clips(monkeypatch, events, "clip")
    trainer = _fit(_model(events, override_step=True), events, scaler, steps=1, gradient_clip_val=0.5)
    expected = ["optimizer_step", "on_before_backward", "on_after_backward"] + (["unscale"] if scaler else []) + [
        "on_before_optimizer_step", "clip", "step"] + (["update"] if scaler else [])
    assert events == expected
    assert trainer.global_step == 1


@pytest.mark.parametrize("scaler", [False, True], ids=["no_scaler", "scaler"])
def test_manual_backward_clip_gradients_step(scaler: bool, clip_calls: list) -> None:
    # manual optimization: the user's clip_gradients unscales first (clip thresholds are in unscaled units); the
    # step must not unscale again (torch raises on a second unscale_ before update)
    events: list = []
    trainer = _fit(_model(events, manual=True), events, scaler, steps=2)
    one = ["on_before_backward", "on_after_backward"] + (["unscale"] if scaler else []) + [
        "on_before_optimizer_step", "step"] + (["update"] if scaler else [])
    assert events == one + one
    assert clip_calls == [("norm", 0.5), ("norm", 0.5)]
    assert trainer.global_step == 2  # manual optimization counts LightningOptimizer steps


def test_skipped_steps_counted_once_per_route(tmp_path: Any) -> None:
    # an inf loss at batches 1 and 3: the scaler skips those steps (no "step" event) and the plugin counts them
    events: list = []
    trainer = _fit(_model(events, inf_at=(1, 3)), events, scaler=True, steps=4)
    assert events.count("step") == 2 and events.count("update") == 4
    assert trainer.skipped_steps == 2 == trainer.precision_plugin.skipped_steps
    events.clear()
    trainer = _fit(_model(events, override_step=True, inf_at=(1, 3)), events, scaler=True, steps=4)
    assert events.count("step") == 2 and trainer.skipped_steps == 2


def test_plain_step_bypasses_the_plugin(monkeypatch: Any) -> None:
    # 32-bit, no hooks overridden, no clipping: the loop calls loss.backward() and optimizer.step() itself
    calls: list = []
    monkeypatch.setattr(Precision, "backward", lambda self, *a, **k: calls.append("backward"))
    monkeypatch.setattr(Precision, "step", lambda self, *a, **k: calls.append("step"))
    model = models(pl).BoringModel()
    before = model.layer.weight.detach().clone()
    trainer = pl.Trainer(**quiet(max_steps=3, logger=False, enable_checkpointing=False, limit_val_batches=0))
    trainer.fit(model, randn_loader(16))
    assert calls == [] and trainer.global_step == 3
    assert not torch.equal(before, model.layer.weight)  # and it did train


@pytest.mark.skipif(not EXT_AVAILABLE, reason="fastlit._C not built")
def test_norm_clipping_goes_inside_the_fused_step(clip_calls: list, monkeypatch: Any) -> None:
    steps: list = []
    monkeypatch.setattr(Precision, "step", lambda self, opt, *a, **k: steps.append(opt))
    model = models(pl).BoringModel()
    model.configure_optimizers = lambda: torch.optim.Adam(model.parameters(), lr=0.01)
    trainer = pl.Trainer(**quiet(max_steps=2, logger=False, enable_checkpointing=False, limit_val_batches=0,
                                 gradient_clip_val=0.25))
    trainer.fit(model, randn_loader(16))
    assert trainer.optimizers[0].max_grad_norm == 0.25  # the fused kernel clips with one norm pass
    assert clip_calls == [] and steps == []  # no separate clip pass, and the step stayed the plain one
    assert trainer.global_step == 2


@pytest.mark.skipif(not EXT_AVAILABLE, reason="fastlit._C not built")
def test_value_clipping_or_a_custom_hook_keeps_the_separate_clip(clip_calls: list) -> None:
    model = models(pl).BoringModel()
    model.configure_optimizers = lambda: torch.optim.Adam(model.parameters(), lr=0.01)
    trainer = pl.Trainer(**quiet(max_steps=2, logger=False, enable_checkpointing=False, limit_val_batches=0,
                                 gradient_clip_val=0.25, gradient_clip_algorithm="value"))
    trainer.fit(model, randn_loader(16))
    assert clip_calls == [("value", 0.25), ("value", 0.25)]
    assert not getattr(trainer.optimizers[0], "max_grad_norm", None)
