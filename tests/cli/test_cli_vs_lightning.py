"""``fastlit.cli.LightningCLI`` against ``pytorch_lightning.cli.LightningCLI`` 2.6.6: the same command line (given as
``args=``, in-process: both CLIs take it exactly as from ``sys.argv``) on the same tiny model and data, under both.
Compared: ``--print_config`` output, the saved ``config.yaml`` and ``hparams.yaml``, exit codes and error text of a
bad argument, the metrics of every subcommand, subclass mode and optimizers from the command line.

The outputs differ only where fastlit differs on purpose: the config header names fastlit, fastlit's Trainer has two
more arguments (``fused_optimizer``, ``async_checkpoint``), class paths name fastlit's / this file's classes.
"""
from __future__ import annotations

import contextlib
import io
import re
import sys
from pathlib import Path
from typing import Any

import pytest

import cli_models
import fastlit

pytest.importorskip("jsonargparse")
# as Trainer defaults, not command-line values: once Lightning's CLI has parsed a `limit_*_batches`, typing's
# Union cache makes jsonargparse read "2" as Lightning's `Union[float, int]` would (2.0) in this process
SMALL = {"max_epochs": 1, "limit_train_batches": 2, "limit_val_batches": 2, "limit_test_batches": 2,
         "limit_predict_batches": 2, "enable_progress_bar": False, "enable_model_summary": False}


@pytest.fixture(autouse=True)
def _plain_argv(monkeypatch: pytest.MonkeyPatch) -> None:
    # pytest's own argv would make both CLIs warn that args= and sys.argv were both given
    monkeypatch.setattr(sys, "argv", ["prog"])


def run_cli(side: str, args: list[str], cli_class: Any = None, subclass: bool = False, **kwargs: Any) -> dict:
    """Run the CLI of ``side`` ("fast" or "lit") on this file's model/data; exit code, stdout, stderr, the CLI."""
    if side == "fast":
        import fastlit.cli as cli_module

        model, data = cli_models.FastModel, cli_models.FastData
    else:
        import pytorch_lightning.cli as cli_module

        model, data = cli_models.LitModel, cli_models.LitData
    out, err = io.StringIO(), io.StringIO()
    result: dict[str, Any] = {"code": None, "cli": None}
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            kwargs.setdefault("trainer_defaults", SMALL)
            result["cli"] = (cli_class or cli_module.LightningCLI)(model, data, args=args,
                                                                   subclass_mode_model=subclass, **kwargs)
        except SystemExit as e:
            result["code"] = e.code
    result.update(out=out.getvalue(), err=err.getvalue())
    return result


def normalized(text: str) -> str:
    """Lightning's text in fastlit's names: header, package, this file's class prefixes, fastlit's 2 extra args."""
    text = text.replace("pytorch_lightning==2.6.6", f"fastlit=={fastlit.__version__}")
    text = text.replace("pytorch_lightning.", "fastlit.").replace("cli_models.Lit", "cli_models.Fast")
    return "\n".join(line for line in text.splitlines()
                     if not re.match(r"\s*(fused_optimizer|async_checkpoint): ", line))


def both(args: list[str], **kwargs: Any) -> tuple[dict, dict]:
    pytest.importorskip("pytorch_lightning")
    return run_cli("fast", args, **kwargs), run_cli("lit", args, **kwargs)


def metrics(cli: Any) -> dict[str, float]:
    return {k: round(float(v), 5) for k, v in cli.trainer.callback_metrics.items()}


def test_print_config_is_lightnings(tmp_path: Path) -> None:
    args = ["fit", "--model.hidden=5", "--optimizer=torch.optim.Adam", "--optimizer.lr=0.01", "--lr_scheduler=StepLR",
            "--lr_scheduler.step_size=1", "--print_config"]
    fast, lit = both(args)
    assert fast["code"] == lit["code"] == 0
    assert "class_path: torch.optim.Adam" in fast["out"] and "hidden: 5" in fast["out"]
    assert fast["out"].startswith(f"# fastlit=={fastlit.__version__}\n")
    assert "fused_optimizer: true" in fast["out"]
    assert normalized(fast["out"]) == normalized(lit["out"])


def test_trainer_class_path_arguments_are_lightnings(tmp_path: Path) -> None:
    """Logger/callbacks/profiler as class paths, max_time as a dict, precision from its literal values: the
    Trainer's arguments are parsed with Lightning's types."""
    args = ["fit", "--trainer.logger=CSVLogger", f"--trainer.logger.save_dir={tmp_path}", "--trainer.profiler=simple",
            '--trainer.max_time={"minutes": 5}', "--trainer.precision=bf16-mixed", "--trainer.callbacks+=EarlyStopping",
            "--trainer.callbacks.monitor=val_loss", "--trainer.strategy=auto", "--print_config"]
    fast, lit = both(args)
    assert fast["code"] == lit["code"] == 0
    assert "class_path: fastlit.loggers.CSVLogger" in fast["out"]
    assert normalized(fast["out"]) == normalized(lit["out"])
    fast, lit = both(["fit", "--trainer.precision=17-mixed"])
    assert fast["code"] == lit["code"] == 2


@pytest.mark.parametrize("bad", ["--trainer.max_epochz=1", "--model.hidden=abc", "--data.nope=3"])
def test_bad_argument_exits_2_with_lightnings_error(bad: str) -> None:
    fast, lit = both(["fit", bad])
    assert fast["code"] == lit["code"] == 2
    error = [line for line in fast["err"].splitlines() if line.startswith("error:")]
    assert error and bad.split("=")[0].lstrip("-").split(".")[-1] in fast["err"]
    assert error == [line for line in lit["err"].splitlines() if line.startswith("error:")]


def test_unknown_subcommand_and_missing_subcommand_fail_like_lightning() -> None:
    for args in (["train"], []):
        fast, lit = both(args)
        assert fast["code"] == lit["code"] == 2, args
        assert fast["err"].splitlines()[-1] == lit["err"].splitlines()[-1], args


def test_fit_from_two_merged_configs_saves_lightnings_config_yaml(tmp_path: Path) -> None:
    pytest.importorskip("pytorch_lightning")
    (tmp_path / "a.yaml").write_text("trainer:\n  max_epochs: 3\nmodel:\n  hidden: 6\n  lr: 0.2\n")
    (tmp_path / "b.yaml").write_text("trainer:\n  max_epochs: 1\ndata:\n  batch_size: 4\n")  # later file wins
    results = {}
    for side in ("fast", "lit"):
        root = tmp_path / side
        args = ["fit", f"--config={tmp_path / 'a.yaml'}", f"--config={tmp_path / 'b.yaml'}",
                f"--trainer.default_root_dir={root}", "--seed_everything=3"]
        results[side] = run_cli(side, args)
    fast, lit = results["fast"]["cli"], results["lit"]["cli"]
    assert fast.model.hparams.hidden == 6 and fast.datamodule.batch_size == 4 and fast.trainer.max_epochs == 1
    assert fast.trainer.global_step == lit.trainer.global_step == 2
    assert metrics(fast) == metrics(lit) and "val_loss" in metrics(fast)
    logs = {side: tmp_path / side / "lightning_logs" / "version_0" for side in ("fast", "lit")}
    saved = {side: (logs[side] / "config.yaml").read_text().replace(str(tmp_path / side), "ROOT") for side in logs}
    assert "seed_everything: 3" in saved["fast"] and "hidden: 6" in saved["fast"]
    assert normalized(saved["fast"]) == normalized(saved["lit"])
    hparams = {side: (logs[side] / "hparams.yaml").read_text() for side in logs}
    assert "_instantiator: fastlit.cli.instantiate_module" in hparams["fast"]
    assert hparams["fast"] == hparams["lit"].replace("pytorch_lightning.", "fastlit.")


def _recording_cli(base: type) -> type:
    """A CLI subclass whose subcommand methods replace the Trainer's (as Lightning's CLI allows) and keep what
    validate/test/predict returned."""

    class RecordingCLI(base):
        def validate(self, **kwargs: Any) -> None:
            self.result = self.trainer.validate(**kwargs)

        def test(self, **kwargs: Any) -> None:
            self.result = self.trainer.test(**kwargs)

        def predict(self, **kwargs: Any) -> None:
            self.result = [v for p in self.trainer.predict(**kwargs) for v in p.flatten().tolist()]

    return RecordingCLI


@pytest.mark.parametrize("subcommand", ["validate", "test", "predict"])
def test_evaluation_subcommands_give_lightnings_results(subcommand: str, tmp_path: Path) -> None:
    pytest.importorskip("pytorch_lightning")
    import pytorch_lightning.cli

    args = [subcommand, "--seed_everything=5", "--trainer.logger=false"]
    fast = run_cli("fast", [*args, f"--trainer.default_root_dir={tmp_path / 'fast'}"],
                   cli_class=_recording_cli(fastlit.cli.LightningCLI))
    lit = run_cli("lit", [*args, f"--trainer.default_root_dir={tmp_path / 'lit'}"],
                  cli_class=_recording_cli(pytorch_lightning.cli.LightningCLI))
    assert fast["code"] is lit["code"] is None, fast["err"][-500:]
    assert fast["cli"].subcommand == subcommand and fast["cli"].result
    assert fast["cli"].result == pytest.approx(lit["cli"].result, rel=1e-5) if subcommand == "predict" else \
        [{k: round(v, 5) for k, v in r.items()} for r in fast["cli"].result] == \
        [{k: round(v, 5) for k, v in r.items()} for r in lit["cli"].result]


def test_subclass_mode_and_optimizer_from_the_command_line(tmp_path: Path) -> None:
    pytest.importorskip("pytorch_lightning")
    base = ["fit", "--trainer.logger=false", "--seed_everything=11", "--optimizer=torch.optim.Adam",
            "--optimizer.lr=0.02", "--lr_scheduler=StepLR", "--lr_scheduler.step_size=1",
            f"--trainer.default_root_dir={tmp_path}"]
    fast = run_cli("fast", ["fit", "--model=cli_models.FastWideModel", "--model.dropout=0.5", *base[1:]],
                   subclass=True, save_config_callback=None)
    lit = run_cli("lit", ["fit", "--model=cli_models.LitWideModel", "--model.dropout=0.5", *base[1:]],
                  subclass=True, save_config_callback=None)
    assert fast["code"] is lit["code"] is None, fast["err"][-800:] + lit["err"][-800:]
    cli = fast["cli"]
    assert type(cli.model) is cli_models.FastWideModel and cli.model.net[0].out_features == 16
    assert cli.model.hparams["_class_path"] == "cli_models.FastWideModel" and cli.model.hparams["dropout"] == 0.5
    optimizer = cli.trainer.optimizers[0]
    assert optimizer.defaults["lr"] == 0.02 and "Adam" in type(optimizer).__name__
    assert type(cli.trainer.lr_scheduler_configs[0].scheduler).__name__ == "StepLR"
    assert metrics(cli) == metrics(lit["cli"])
    assert optimizer.param_groups[0]["lr"] == pytest.approx(lit["cli"].trainer.optimizers[0].param_groups[0]["lr"])


def test_reduce_lr_on_plateau_gets_its_monitor(tmp_path: Path) -> None:
    args = ["fit", "--trainer.logger=false", f"--trainer.default_root_dir={tmp_path}",
            "--optimizer=torch.optim.SGD", "--optimizer.lr=0.1", "--lr_scheduler=ReduceLROnPlateau",
            "--lr_scheduler.monitor=val_loss", "--lr_scheduler.patience=0"]
    fast = run_cli("fast", args, save_config_callback=None)
    assert fast["code"] is None, fast["err"][-800:]
    config = fast["cli"].trainer.lr_scheduler_configs[0]
    assert isinstance(config.scheduler, fastlit.cli.ReduceLROnPlateau) and config.monitor == "val_loss"
