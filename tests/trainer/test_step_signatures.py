"""Signature-aware step calls: ``training_step``/``validation_step``/``test_step``/``predict_step`` receive
``batch_idx`` (and ``dataloader_idx``, with several loaders) only when their signature can take it.

Each case builds the same module class on fastlit and, when installed, on ``pytorch_lightning``, runs it, and
compares the argument tuples every step call received; the fastlit run is also checked against the expected
tuples written out here, so the test means something without Lightning too.
"""
from __future__ import annotations

import functools
from typing import Any, Callable, Optional

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader

import fastlit
from fastlit.utilities.signature_utils import is_param_in_hook_signature, step_takes_batch_idx
from helpers import quiet, randn_dataset

try:
    import pytorch_lightning as _lightning
except ImportError:  # the fastlit half of every test still runs
    _lightning = None

FRAMEWORKS = [fastlit] + ([_lightning] if _lightning is not None else [])
N_TRAIN, N_VAL = 3, 2  # batches per loader


def _decorate(fn: Callable) -> Callable:
    """A typical user decorator: the wrapper takes anything, ``__wrapped__`` tells the real signature."""
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return fn(*args, **kwargs)

    return wrapper


def _variant(kind: str, name: str) -> Callable:
    """A step method of signature ``kind`` that records what it received, then runs the stage's work."""
    def record(self: Any, batch: Any, got: tuple) -> Any:
        self.calls.setdefault(name, []).append(got)
        return self.work(name, batch)

    if kind == "batch":
        def step(self, batch):
            return record(self, batch, ())
    elif kind == "batch_idx":
        def step(self, batch, batch_idx):
            return record(self, batch, (batch_idx,))
    elif kind == "renamed":  # any second positional parameter is batch_idx
        def step(self, batch, i):
            return record(self, batch, (i,))
    elif kind == "varargs":
        def step(self, batch, *args):
            return record(self, batch, args)
    elif kind == "kwargs":  # **kwargs does not count: nothing is passed by keyword
        def step(self, batch, **kwargs):
            return record(self, batch, tuple(sorted(kwargs.items())))
    elif kind == "kwonly":
        def step(self, batch, *, batch_idx=None):
            return record(self, batch, ("kw", batch_idx))
    elif kind == "decorated":
        def inner(self, batch):
            return record(self, batch, ())

        step = _decorate(inner)
    elif kind == "dl":
        def step(self, batch, batch_idx, dataloader_idx=0):
            return record(self, batch, (batch_idx, dataloader_idx))
    elif kind == "dl_no_idx":  # two positional parameters: the second receives batch_idx whatever its name
        def step(self, batch, dataloader_idx=0):
            return record(self, batch, ("dl", dataloader_idx))
    else:
        raise ValueError(kind)
    return step


@functools.lru_cache(maxsize=None)
def _base(pl: Any) -> type:
    class Base(pl.LightningModule):
        def __init__(self, manual: bool = False, multi: bool = False) -> None:
            super().__init__()
            torch.manual_seed(0)
            self.layer = nn.Linear(8, 2)
            self.automatic_optimization = not manual
            self.multi = multi
            self.calls: dict[str, list[tuple]] = {}

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.layer(x)

        def work(self, name: str, batch: Any) -> Any:
            x, y = batch
            loss = F.mse_loss(self(x), y)
            if name == "predict_step":
                return self(x)
            if name != "training_step":
                self.log(f"{name}_loss", loss)
                return None
            if self.automatic_optimization:
                return loss
            opt = self.optimizers()
            opt.zero_grad()
            self.manual_backward(loss)
            opt.step()
            return loss

        def training_step(self, batch, batch_idx):
            return self.work("training_step", batch)

        def validation_step(self, batch, batch_idx, dataloader_idx=0):
            return self.work("validation_step", batch)

        def test_step(self, batch, batch_idx, dataloader_idx=0):
            return self.work("test_step", batch)

        def predict_step(self, batch, batch_idx, dataloader_idx=0):
            return self.work("predict_step", batch)

        def configure_optimizers(self) -> Any:
            return torch.optim.SGD(self.parameters(), lr=0.1)

        def _loaders(self, n: int) -> Any:
            loaders = [DataLoader(randn_dataset(4 * n, seed=s), batch_size=4) for s in range(2 if self.multi else 1)]
            return loaders if self.multi else loaders[0]

        def train_dataloader(self) -> Any:
            return DataLoader(randn_dataset(4 * N_TRAIN), batch_size=4)

        def val_dataloader(self) -> Any:
            return self._loaders(N_VAL)

        def test_dataloader(self) -> Any:
            return self._loaders(N_VAL)

        def predict_dataloader(self) -> Any:
            return self._loaders(N_VAL)

    return Base


def _run(pl: Any, name: str, kind: str, manual: bool = False, multi: bool = False,
         extra: Optional[dict] = None, **trainer_kw: Any) -> dict[str, list[tuple]]:
    """Fit (one epoch, with sanity check and validation), then test or predict when ``name`` is that step."""
    cls = type(f"M_{name}_{kind}", (_base(pl),), {name: _variant(kind, name), **(extra or {})})
    model = cls(manual=manual, multi=multi)
    kw = quiet(logger=False, enable_checkpointing=False, max_epochs=1, num_sanity_val_steps=1)
    trainer = pl.Trainer(**{**kw, **trainer_kw})
    if name in ("training_step", "validation_step"):
        trainer.fit(model)
    if name == "test_step":
        trainer.test(model, verbose=False)
    if name == "predict_step":
        trainer.predict(model)
    return model.calls


def _expected(name: str, kind: str, multi: bool = False) -> list[tuple]:
    """The argument tuples a step of signature ``kind`` gets over one run (see ``_run``)."""
    if name == "training_step":
        idx = [(i, 0) for i in range(N_TRAIN)]
    elif name == "validation_step":  # 1 sanity batch per loader, then the loaders in full
        idx = [(0, d) for d in range(2 if multi else 1)] + [(i, d) for d in range(2 if multi else 1)
                                                             for i in range(N_VAL)]
    else:
        idx = [(i, d) for d in range(2 if multi else 1) for i in range(N_VAL)]
    rows = {
        "batch": lambda i, d: (),
        "decorated": lambda i, d: (),
        "kwargs": lambda i, d: (),
        "kwonly": lambda i, d: ("kw", None),
        "batch_idx": lambda i, d: (i,),
        "renamed": lambda i, d: (i,),
        "varargs": lambda i, d: (i, d) if multi else (i,),
        "dl": lambda i, d: (i, d),
        "dl_no_idx": lambda i, d: ("dl", i),
    }[kind]
    return [rows(i, d) for i, d in idx]


KINDS = ["batch", "batch_idx", "renamed", "varargs", "kwargs", "kwonly", "decorated"]


@pytest.mark.parametrize("manual", [False, True], ids=["automatic", "manual"])
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("name", ["training_step", "validation_step", "test_step", "predict_step"])
def test_step_receives_batch_idx_only_if_it_takes_it(name: str, kind: str, manual: bool) -> None:
    got = {pl.__name__: _run(pl, name, kind, manual=manual)[name] for pl in FRAMEWORKS}
    assert got["fastlit"] == _expected(name, kind)
    if _lightning is not None:
        assert got["fastlit"] == got["pytorch_lightning"]


@pytest.mark.parametrize("kind", ["batch", "batch_idx", "varargs"])
@pytest.mark.parametrize("path", ["closure", "anomaly", "bf16", "step_end"])
def test_training_step_on_every_loop_path(path: str, kind: str) -> None:
    """The other ways the training loop calls the step: through the optimizer closure (an overridden
    ``optimizer_step``), wrapped by ``detect_anomaly``'s finiteness check, under autocast, and followed by a 1.x
    ``training_step_end`` (fastlit only: Lightning 2.x refuses that hook)."""
    extra: dict[str, Any] = {}
    kw: dict[str, Any] = {}
    frameworks = FRAMEWORKS
    if path == "closure":
        def optimizer_step(self, epoch, batch_idx, optimizer, optimizer_closure=None):
            optimizer.step(closure=optimizer_closure)

        extra["optimizer_step"] = optimizer_step
    elif path == "anomaly":
        kw["detect_anomaly"] = True
    elif path == "bf16":
        kw["precision"] = "bf16-mixed"
    else:
        extra["training_step_end"] = lambda self, out: out
        frameworks = [fastlit]
    with pytest.warns(DeprecationWarning) if path == "step_end" else _nothing():
        got = {pl.__name__: _run(pl, "training_step", kind, extra=extra, **kw)["training_step"] for pl in frameworks}
    assert got["fastlit"] == _expected("training_step", kind)
    if "pytorch_lightning" in got:
        assert got["fastlit"] == got["pytorch_lightning"]


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: Any) -> None:
        return None


def test_anomaly_message_names_the_batch_without_batch_idx() -> None:
    """``detect_anomaly`` reports the batch index even when ``training_step`` does not take it."""
    def work(self, name, batch):
        if name == "training_step" and len(self.calls["training_step"]) == 2:
            return torch.tensor(float("nan"), requires_grad=True)
        return type(self).__mro__[1].work(self, name, batch)

    with pytest.raises(RuntimeError, match="batch_idx=1"):
        _run(fastlit, "training_step", "batch", extra={"work": work}, detect_anomaly=True)


@pytest.mark.parametrize("kind", ["dl", "varargs", "dl_no_idx"])
@pytest.mark.parametrize("name", ["validation_step", "test_step", "predict_step"])
def test_several_loaders_pass_dataloader_idx(name: str, kind: str) -> None:
    if kind == "dl_no_idx":  # (batch, batch_idx, dataloader_idx) into two parameters: a TypeError in both
        for pl in FRAMEWORKS:
            with pytest.raises(TypeError):
                _run(pl, name, kind, multi=True)
        return
    got = {pl.__name__: _run(pl, name, kind, multi=True)[name] for pl in FRAMEWORKS}
    assert got["fastlit"] == _expected(name, kind, multi=True)
    if _lightning is not None:
        assert got["fastlit"] == got["pytorch_lightning"]


def test_single_loader_dataloader_idx_with_default_gets_batch_idx() -> None:
    """``def validation_step(self, batch, dataloader_idx=0)`` with one loader: Lightning's rule hands it batch_idx
    (two positional parameters); fastlit does the same rather than guess from the name."""
    got = {pl.__name__: _run(pl, "validation_step", "dl_no_idx")["validation_step"] for pl in FRAMEWORKS}
    assert got["fastlit"] == _expected("validation_step", "dl_no_idx")
    if _lightning is not None:
        assert got["fastlit"] == got["pytorch_lightning"]


@pytest.mark.parametrize("kind", ["batch", "kwonly"])
def test_several_loaders_need_dataloader_idx(kind: str) -> None:
    """Without a positional ``dataloader_idx`` (or ``*args``) several loaders are refused up front, by both."""
    for pl in FRAMEWORKS:
        with pytest.raises(RuntimeError, match="no `dataloader_idx`"):
            _run(pl, "test_step", kind, multi=True)


@pytest.mark.parametrize("multi", [False, True], ids=["one_loader", "two_loaders"])
def test_batch_hooks_get_dataloader_idx_only_with_several_loaders(multi: bool) -> None:
    """Module and callback batch hooks always get batch_idx, and dataloader_idx only with several loaders."""
    def make(pl: Any) -> tuple[Any, Any]:
        log: list[tuple] = []

        def hook(name: str) -> Callable:
            def fn(self, *args):  # record everything after the batch (and after outputs, for *_end)
                log.append((type(self).__name__[:3], name, args[2:] if name.endswith("end") else args[1:]))
            return fn

        names = [f"on_{s}_batch_{e}" for s in ("validation", "test", "predict") for e in ("start", "end")]
        cb = type("CallbackRec", (pl.Callback,), {n: (lambda n: lambda self, tr, m, *a: hook(n)(self, *a))(n)
                                                   for n in names})()
        cls = type("ModRec", (_base(pl),), {n: hook(n) for n in names})
        return cls(multi=multi), cb, log

    got = {}
    for pl in FRAMEWORKS:
        model, cb, log = make(pl)
        trainer = pl.Trainer(**quiet(logger=False, enable_checkpointing=False, callbacks=[cb]))
        trainer.validate(model, verbose=False)
        trainer.test(model, verbose=False)
        trainer.predict(model)
        got[pl.__name__] = log
    per_call = [(i, d) if multi else (i,) for d in range(2 if multi else 1) for i in range(N_VAL)]
    expected = [(who, f"on_{s}_batch_{e}", args) for s in ("validation", "test", "predict") for args in per_call
                for e in ("start", "end") for who in ("Cal", "Mod")]
    assert got["fastlit"] == expected
    if _lightning is not None:
        assert got["fastlit"] == got["pytorch_lightning"]


def test_signature_rule() -> None:
    """The rule itself, on bound methods: positional name, ``*args`` (unless explicit), ``min_args``."""
    class M:
        def a(self, batch): ...
        def b(self, batch, batch_idx): ...
        def c(self, batch, *args): ...
        def d(self, batch, *, batch_idx): ...
        def e(self, batch, idx): ...
        def f(self, batch, **kwargs): ...

    m = M()
    assert [step_takes_batch_idx(getattr(m, n)) for n in "abcdef"] == [False, True, True, False, True, False]
    assert not is_param_in_hook_signature(m.c, "batch_idx", explicit=True)
    assert step_takes_batch_idx(_decorate(M.b).__get__(m)) and not step_takes_batch_idx(_decorate(M.a).__get__(m))
