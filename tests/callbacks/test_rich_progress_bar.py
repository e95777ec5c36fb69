"""RichProgressBar: the same bars, counts and metrics as Lightning 2.6.6's (recorded console text), plus fastlit's
throttled per-batch path, the lazy rich import and the missing-rich error."""
from __future__ import annotations

import io
import pickle
import re
import subprocess
import sys
from typing import Any

import pytest
import torch
from torch.utils.data import DataLoader, IterableDataset, TensorDataset

import fastlit
import fastlit.callbacks.progress.rich_progress as rich_progress
import fastlit.callbacks.rich_model_summary as rich_model_summary
from fastlit.callbacks import RichProgressBar
from fastlit.callbacks.progress.rich_progress import RichProgressBarTheme

rich = pytest.importorskip("rich")


@pytest.fixture(autouse=True)
def _fresh_rich_console():
    """The bars reconfigure rich's global console (``console_kwargs``); put the default one back afterwards."""
    yield
    rich.reconfigure()


def _module(pl: Any, log_val: bool = True) -> Any:
    class Tiny(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.layer = torch.nn.Linear(4, 1)

        def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
            loss = self.layer(batch[0]).pow(2).mean()
            self.log("train_loss", loss, prog_bar=True)
            return loss

        def validation_step(self, batch: Any, batch_idx: int) -> None:
            if log_val:
                self.log("val_loss", self.layer(batch[0]).pow(2).mean(), prog_bar=True)

        def test_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> None:
            self.log("test_loss", self.layer(batch[0]).pow(2).mean())

        def predict_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
            return self.layer(batch[0])

        def configure_optimizers(self) -> Any:
            return torch.optim.SGD(self.parameters(), lr=0.1)

    return Tiny()


def _loader(n: int = 24) -> DataLoader:
    return DataLoader(TensorDataset(torch.randn(n, 4, generator=torch.Generator().manual_seed(0))), batch_size=4)


def _normalise(text: str) -> list[str]:
    """Recorded console text without what depends on timing: bar glyph runs, speeds, elapsed/remaining times."""
    lines = []
    for line in text.splitlines():
        line = re.sub(r"[━╸╺╾╼]+", "BAR", line)
        line = re.sub(r"\d+\.\d+it/s", "Nit/s", line)
        line = re.sub(r"-?\d+:\d\d:\d\d|-:--:--", "T", line)
        lines.append(re.sub(r"\s+", " ", line).strip())
    return [line for line in lines if line]


def _tasks(bar: Any) -> list[tuple]:
    return [(t.description, t.completed, t.total, t.visible) for t in bar.progress.tasks]


def _run_all(pl: Any, tmp_path: Any, **bar_kwargs: Any) -> tuple[list[str], dict]:
    """fit (with sanity check), validate, test and predict with one bar; the recorded text and each stage's tasks
    (description, completed, total, visible) and, after fit, the metrics shown."""
    torch.manual_seed(0)
    out = io.StringIO()  # every Console the bar configures writes here (recording would restart per stage)
    bar = pl.callbacks.RichProgressBar(console_kwargs={"file": out, "width": 200}, **bar_kwargs)
    trainer = pl.Trainer(max_epochs=3, default_root_dir=tmp_path, callbacks=[bar], enable_model_summary=False,
                         enable_checkpointing=False, limit_val_batches=2, logger=pl.loggers.CSVLogger(tmp_path))
    model = _module(pl)
    state = {}
    stages = {
        "fit": lambda: trainer.fit(model, _loader(), _loader()),
        "validate": lambda: trainer.validate(model, _loader(), verbose=False),
        "test": lambda: trainer.test(model, [_loader(8), _loader(12)], verbose=False),
        "predict": lambda: trainer.predict(model, _loader()),
    }
    for stage, run in stages.items():
        run()
        state[stage] = _tasks(bar)
        if stage == "fit":
            state["fit_metrics"] = sorted(bar._metric_component._metrics)
    return _normalise(out.getvalue()), state


@pytest.mark.parametrize("leave", [False, True])
def test_bars_and_metrics_match_lightning(tmp_path: Any, lightning: Any, leave: bool) -> None:
    theirs, their_state = _run_all(lightning, tmp_path / "pl", leave=leave)
    ours, our_state = _run_all(fastlit, tmp_path / "fl", leave=leave)
    assert our_state == their_state
    assert ours == theirs
    # what the comparison covers: every epoch's bar kept with leave=True, else only the last
    epochs = [line for line in ours if line.startswith("Epoch")]
    assert [e.split()[1] for e in epochs] == (["0/2", "1/2", "2/2"] if leave else ["2/2"])
    assert "6/6" in epochs[-1] and "train_loss:" in epochs[-1] and "val_loss:" in epochs[-1]
    assert our_state["fit_metrics"] == ["train_loss", "v_num", "val_loss"]
    assert ("Testing", 3, 3, True) in our_state["test"]


class _Endless(IterableDataset):
    def __iter__(self) -> Any:
        for i in range(10):
            yield (torch.full((4,), i / 10),)


def test_loader_without_length_matches_lightning(tmp_path: Any, lightning: Any) -> None:
    def run(pl: Any, root: Any) -> tuple[list[str], list[tuple]]:
        torch.manual_seed(0)
        bar = pl.callbacks.RichProgressBar(console_kwargs={"record": True, "width": 120})
        trainer = pl.Trainer(max_epochs=1, default_root_dir=root, callbacks=[bar], enable_model_summary=False,
                             enable_checkpointing=False, logger=False, num_sanity_val_steps=0)
        trainer.fit(_module(pl, log_val=False), DataLoader(_Endless(), batch_size=2))
        return _normalise(bar._console.export_text()), _tasks(bar)

    theirs, ours = run(lightning, tmp_path / "pl"), run(fastlit, tmp_path / "fl")
    assert ours == theirs
    assert ours[1] == [("Epoch 0/0 ", 5, float("inf"), True)]  # the exact count although the total is unknown
    assert any("5/--" in line for line in ours[0])


def test_sanity_check_bar_matches_lightning(tmp_path: Any, lightning: Any) -> None:
    def run(pl: Any) -> list[tuple]:
        bar = pl.callbacks.RichProgressBar(console_kwargs={"record": True})
        trainer = pl.Trainer(max_epochs=1, limit_train_batches=1, limit_val_batches=5, num_sanity_val_steps=3,
                             default_root_dir=tmp_path, callbacks=[bar], logger=False, enable_checkpointing=False,
                             enable_model_summary=False)
        trainer.fit(_module(pl), _loader(), _loader())
        return _tasks(bar)

    ours = run(fastlit)
    assert ours == run(lightning)
    assert ours[0] == ("Sanity Checking", 3, 3, False)


def test_redraws_are_throttled_but_final_counts_exact(tmp_path: Any, monkeypatch: Any) -> None:
    """Between two redraws a batch costs a store and a clock read: with the clock frozen, only the first and the
    last batch of an epoch update rich and read the metrics; the bar still ends on the exact count."""
    monkeypatch.setattr(rich_progress, "_clock", lambda: 100.0)
    updates: list[int] = []
    metric_reads: list[str] = []

    class Counting(RichProgressBar):
        def get_metrics(self, trainer: Any, pl_module: Any) -> dict:
            metric_reads.append(trainer.state.stage)
            return super().get_metrics(trainer, pl_module)

        def _update(self, task_id: Any, current: int, visible: bool = True, hard: bool = False) -> None:
            updates.append(current)
            super()._update(task_id, current, visible, hard)

    bar = Counting(console_kwargs={"record": True})
    trainer = fastlit.Trainer(max_epochs=2, callbacks=[bar], logger=False, enable_checkpointing=False,
                              enable_model_summary=False, limit_val_batches=0, default_root_dir=tmp_path)
    trainer.fit(_module(fastlit), _loader(40))  # 10 batches an epoch
    assert updates == [1, 10, 1, 10]
    # per epoch: the two redraws, then the epoch end
    assert metric_reads.count("train") == 6
    assert bar.train_progress_bar.completed == 10


def test_refresh_interval_zero_redraws_every_batch_at_refresh_rate(tmp_path: Any, monkeypatch: Any) -> None:
    ticks = iter(range(10_000))
    monkeypatch.setattr(rich_progress, "_clock", lambda: float(next(ticks)))  # one second per clock read
    bar = RichProgressBar(refresh_rate=1, console_kwargs={"record": True})
    bar.refresh_interval = 0.0
    seen: list[int] = []
    bar._update = lambda task_id, current, **kw: seen.append(current)  # type: ignore[method-assign]
    trainer = fastlit.Trainer(max_epochs=1, callbacks=[bar], logger=False, enable_checkpointing=False,
                              enable_model_summary=False, limit_val_batches=0, default_root_dir=tmp_path)
    trainer.fit(_module(fastlit), _loader(20))
    assert seen == [1, 2, 3, 4, 5]


def test_disabled_bar_draws_nothing(tmp_path: Any, capsys: Any) -> None:
    for bar in (RichProgressBar(refresh_rate=0), RichProgressBar()):
        if bar.refresh_rate:
            bar.disable()
        assert bar.is_disabled and not bar.is_enabled
        trainer = fastlit.Trainer(max_epochs=1, callbacks=[bar], logger=False, enable_checkpointing=False,
                                  enable_model_summary=False, default_root_dir=tmp_path)
        trainer.fit(_module(fastlit), _loader(), _loader())
        trainer.test(_module(fastlit), _loader(), verbose=False)
        assert bar.progress is None and bar.train_progress_bar_id is None and bar.test_progress_bar_id is None
    assert "Epoch" not in capsys.readouterr().out
    bar.enable()
    assert bar.is_enabled


def test_theme_metrics_format_and_custom_columns(tmp_path: Any) -> None:
    from rich.progress import TextColumn

    class OneColumn(RichProgressBar):
        def configure_columns(self, trainer: Any) -> list:
            return [TextColumn("{task.description}")]

    theme = RichProgressBarTheme(metrics_format=".3e", metrics_text_delimiter=" | ", description="green")
    bar = OneColumn(theme=theme, console_kwargs={"record": True, "width": 120})
    trainer = fastlit.Trainer(max_epochs=1, callbacks=[bar], logger=False, enable_checkpointing=False,
                              enable_model_summary=False, default_root_dir=tmp_path, limit_val_batches=1)
    trainer.fit(_module(fastlit), _loader(), _loader())
    assert len(bar.progress.columns) == 2  # ours plus the metrics column
    line = next(line for line in bar._console.export_text().splitlines() if line.startswith("Epoch"))
    shown = dict(part.split(": ") for part in line.split("Epoch 0/0")[1].strip().split(" | "))
    assert set(shown) == {"train_loss", "val_loss"}
    assert shown["train_loss"] == f"{trainer.progress_bar_metrics['train_loss']:.3e}"
    assert bar.train_progress_bar.description == "[green]Epoch 0/0 "


class _Model(fastlit.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(4, 1)

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        return self.layer(batch[0]).sum()

    def configure_optimizers(self) -> Any:
        return torch.optim.SGD(self.parameters(), lr=0.1)


def test_defaults_and_pickling(tmp_path: Any) -> None:
    bar = RichProgressBar()
    assert (bar.refresh_rate, bar._leave, bar.theme) == (100, False, RichProgressBarTheme())
    assert RichProgressBarTheme().metrics_format == ".3f" and RichProgressBarTheme().progress_bar == "#6206E0"
    trainer = fastlit.Trainer(max_epochs=1, callbacks=[bar], logger=False, enable_checkpointing=False,
                              enable_model_summary=False, default_root_dir=tmp_path)
    pickle.dumps(bar)
    trainer.fit(_Model(), _loader())
    assert bar.progress is not None and bar._console is not None
    # a fitted fastlit Trainer itself does not pickle (its fused optimizer), so leave out the references to it:
    # the rest of the bar's state must pickle although its rich Progress and console hold locks
    state = {k: v for k, v in bar.__getstate__().items() if k not in ("_trainer", "_metric_component")}
    clone = pickle.loads(pickle.dumps(state))
    assert clone["progress"] is None and clone["_console"] is None and clone["_refresh_rate"] == 100
    assert isinstance(trainer.progress_bar_callback, RichProgressBar)


def test_lightning_module_names_resolve_lazily() -> None:
    from fastlit.callbacks.progress.rich_progress import CustomProgress, MetricsTextColumn

    assert issubclass(CustomProgress, rich.progress.Progress)
    assert issubclass(MetricsTextColumn, rich.progress.ProgressColumn)
    with pytest.raises(AttributeError):
        rich_progress.NoSuchColumn  # noqa: B018


def test_import_fastlit_does_not_import_rich() -> None:
    code = ("import sys, fastlit, fastlit.callbacks; from fastlit.callbacks import RichProgressBar, RichModelSummary;"
            "print(sorted(m for m in sys.modules if m == 'rich' or m.startswith('rich.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize(("cls", "module"), [("RichProgressBar", "callbacks.progress.rich_progress"),
                                             ("RichModelSummary", "callbacks.rich_model_summary")])
def test_missing_rich_raises_lightnings_error_naming_the_extra(monkeypatch: Any, lightning: Any, cls: str,
                                                               module: str) -> None:
    import importlib

    errors = []
    for pl in (lightning, fastlit):
        monkeypatch.setattr(importlib.import_module(f"{pl.__name__}.{module}"), "_RICH_AVAILABLE", False)
        with pytest.raises(ModuleNotFoundError) as err:
            getattr(pl.callbacks, cls)()
        errors.append(err.value)
    theirs, ours = errors
    assert type(ours) is type(theirs)
    first_sentence = str(theirs).split(". ")[0] + ". "
    assert str(ours).startswith(first_sentence) and f"`{cls}` requires `rich`" in first_sentence
    assert "pip install 'fastlit[rich]'" in str(ours)
