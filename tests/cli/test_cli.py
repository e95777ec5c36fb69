"""``fastlit.cli.LightningCLI`` on its own: the config file it saves and when it refuses to overwrite one, ``run=False``,
``-h``, environment variables, checkpoints of CLI runs (``load_from_checkpoint``, ``--ckpt_path``), fastlit's Trainer,
and the optional dependency (jsonargparse is imported only by the CLI; without it the error names the extra)."""
from __future__ import annotations

import contextlib
import io
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

import cli_models
import fastlit

pytest.importorskip("jsonargparse")
from fastlit.cli import LightningArgumentParser, LightningCLI, SaveConfigCallback  # noqa: E402

SMALL = {"max_epochs": 1, "limit_train_batches": 2, "limit_val_batches": 2, "enable_progress_bar": False,
         "enable_model_summary": False}


@pytest.fixture(autouse=True)
def _plain_argv(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "argv", ["prog"])


def cli(args: list[str], **kwargs: Any) -> LightningCLI:
    kwargs.setdefault("trainer_defaults", SMALL)
    return LightningCLI(cli_models.FastModel, cli_models.FastData, args=args, **kwargs)


def exit_code_and_output(args: list[str], **kwargs: Any) -> tuple[Any, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), pytest.raises(SystemExit) as info:
        cli(args, **kwargs)
    return info.value.code, out.getvalue(), err.getvalue()


def test_the_trainer_is_fastlits_and_the_config_file_is_saved_once(tmp_path: Path) -> None:
    run = cli(["fit", f"--trainer.default_root_dir={tmp_path}", "--trainer.logger=false", "--model.hidden=7"])
    assert type(run.trainer) is fastlit.Trainer and run.trainer.global_step == 2
    assert isinstance(run.model, cli_models.FastModel) and run.model.hparams.hidden == 7
    saved = (tmp_path / "config.yaml").read_text()
    assert saved.startswith(f"# fastlit=={fastlit.__version__}\n") and "hidden: 7" in saved
    assert "fused_optimizer: true" in saved
    callbacks = [c for c in run.trainer.callbacks if isinstance(c, SaveConfigCallback)]
    assert len(callbacks) == 1 and callbacks[0].already_saved
    run.trainer.test(run.model, datamodule=run.datamodule)  # a second setup in the same run does not rewrite
    assert (tmp_path / "config.yaml").read_text() == saved


def test_an_existing_config_file_is_not_overwritten_unless_asked(tmp_path: Path) -> None:
    args = ["fit", f"--trainer.default_root_dir={tmp_path}", "--trainer.logger=false"]
    cli(args)
    with pytest.raises(RuntimeError, match="expected .*config.yaml to NOT exist.*save_config_callback=None"):
        cli(args)
    cli([*args, "--model.hidden=9"], save_config_kwargs={"overwrite": True})
    assert "hidden: 9" in (tmp_path / "config.yaml").read_text()
    cli([*args, "--model.hidden=3"], save_config_callback=None)  # no callback: nothing written, no error
    assert "hidden: 9" in (tmp_path / "config.yaml").read_text()
    cli([*args, "--trainer.fast_dev_run=true"])  # fast_dev_run never saves (nor refuses)


def test_save_to_log_dir_false_needs_a_subclass_that_saves_elsewhere() -> None:
    with pytest.raises(ValueError, match="save_to_log_dir=False"):
        SaveConfigCallback(None, None, save_to_log_dir=False)

    class ToLogger(SaveConfigCallback):
        def save_config(self, trainer, pl_module, stage) -> None:
            self.saved_by = stage

    assert not ToLogger(None, None, save_to_log_dir=False).save_to_log_dir


def test_run_false_only_builds_the_objects(tmp_path: Path) -> None:
    run = cli([f"--trainer.default_root_dir={tmp_path}", "--data.batch_size=4", "--seed_everything=21"], run=False)
    assert run.subcommand is None and run.trainer.global_step == 0 and run.datamodule.batch_size == 4
    assert run.config["seed_everything"] == 21 and "subcommand" not in run.config
    run.trainer.fit(run.model, datamodule=run.datamodule)
    assert run.trainer.global_step == 2 and (tmp_path / "lightning_logs" / "version_0" / "config.yaml").is_file()


def test_random_seed_is_recorded_in_the_config(tmp_path: Path) -> None:
    run = cli(["fit", f"--trainer.default_root_dir={tmp_path}", "--trainer.logger=false"])  # default: True
    seed = run.config["fit"]["seed_everything"]
    assert isinstance(seed, int) and not isinstance(seed, bool)
    assert f"seed_everything: {seed}" in (tmp_path / "config.yaml").read_text()


def test_help_lists_trainer_model_and_data_arguments() -> None:
    code, out, _ = exit_code_and_output(["fit", "-h"])
    assert code == 0
    for arg in ("--trainer.max_epochs", "--trainer.fused_optimizer", "--model.hidden", "--data.batch_size",
                "--optimizer", "--lr_scheduler", "--ckpt_path", "--config", "--print_config"):
        assert arg in out, arg
    assert "width of the hidden layer" in out  # the model's docstring describes its arguments
    code, out, _ = exit_code_and_output(["-h"])
    assert code == 0 and all(name in out for name in ("fit", "validate", "test", "predict"))


def test_trainer_built_from_class_path_arguments(tmp_path: Path) -> None:
    run = cli(["fit", "--trainer.logger=CSVLogger", f"--trainer.logger.save_dir={tmp_path}",
               "--trainer.callbacks+=EarlyStopping", "--trainer.callbacks.monitor=val_loss",
               "--trainer.callbacks.patience=7", '--trainer.max_time={"hours": 1}'])
    assert isinstance(run.trainer.logger, fastlit.loggers.CSVLogger)
    stopping = [c for c in run.trainer.callbacks if isinstance(c, fastlit.callbacks.EarlyStopping)]
    assert len(stopping) == 1 and stopping[0].patience == 7
    assert (tmp_path / "lightning_logs" / "version_0" / "metrics.csv").is_file()


def test_trainer_stand_in_has_the_trainers_signature_and_describes_every_argument() -> None:
    import inspect

    from fastlit._cli_trainer import DESCRIPTIONS, trainer_arguments

    ours = inspect.signature(trainer_arguments(fastlit.Trainer).__init__).parameters
    trainers = {n: p for n, p in inspect.signature(fastlit.Trainer.__init__).parameters.items()
                if p.kind != p.VAR_KEYWORD}
    assert [(n, p.default) for n, p in ours.items()] == [(n, p.default) for n, p in trainers.items()]
    assert set(DESCRIPTIONS) == set(trainers) - {"self"}  # a new Trainer argument needs its -h line


def test_environment_variables_when_enabled(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PL_FIT__MODEL__HIDDEN", "13")  # the name Lightning 2.6.6 reads (checked against it)
    args = ["fit", f"--trainer.default_root_dir={tmp_path}", "--trainer.logger=false"]
    assert cli(args, save_config_callback=None).model.hparams.hidden == 4  # off by default
    assert cli(args, save_config_callback=None, parser_kwargs={"default_env": True}).model.hparams.hidden == 13


def test_checkpoint_of_a_cli_run_loads_and_gives_ckpt_path_hyperparameters(tmp_path: Path) -> None:
    run = cli(["fit", f"--trainer.default_root_dir={tmp_path}", "--model.hidden=6"])
    ckpt = next((tmp_path / "lightning_logs").rglob("*.ckpt"))
    saved = torch.load(ckpt, weights_only=True)["hyper_parameters"]
    assert saved == {"hidden": 6, "lr": 0.1, "_instantiator": "fastlit.cli.instantiate_module"}
    loaded = cli_models.FastModel.load_from_checkpoint(ckpt)
    # rebuilt by instantiate_module, outside the CLI: plain hyperparameters again (as in Lightning)
    assert loaded.net[0].out_features == 6 and dict(loaded.hparams) == {"hidden": 6, "lr": 0.1}
    assert torch.equal(loaded.net[0].weight, run.model.net[0].weight)
    # validate --ckpt_path: the model is built with the checkpoint's hyperparameters (hidden=6, not the default 4)
    check = cli(["validate", f"--ckpt_path={ckpt}", f"--trainer.default_root_dir={tmp_path / 'v'}"])
    assert check.model.net[0].out_features == 6 and "val_loss" in check.trainer.callback_metrics


def test_a_checkpoint_naming_another_instantiator_is_refused(tmp_path: Path) -> None:
    cli(["fit", f"--trainer.default_root_dir={tmp_path}", "--trainer.logger=false"])
    ckpt = next(tmp_path.rglob("*.ckpt"))
    data = torch.load(ckpt, weights_only=False)
    data["hyper_parameters"]["_instantiator"] = "os.system"
    torch.save(data, tmp_path / "evil.ckpt")
    with pytest.raises(ValueError, match="allowlist of trusted instantiators"):
        cli_models.FastModel.load_from_checkpoint(tmp_path / "evil.ckpt")


def test_subclass_checkpoint_rebuilds_the_trained_subclass(tmp_path: Path) -> None:
    cli(["fit", f"--trainer.default_root_dir={tmp_path}", "--trainer.logger=false",
         "--model=cli_models.FastWideModel", "--model.dropout=0.25"], subclass_mode_model=True)
    ckpt = next(tmp_path.rglob("*.ckpt"))
    assert torch.load(ckpt, weights_only=True)["hyper_parameters"]["_class_path"] == "cli_models.FastWideModel"
    loaded = cli_models.FastWideModel.load_from_checkpoint(ckpt)
    assert type(loaded) is cli_models.FastWideModel and loaded.net[0].out_features == 16


def test_parser_refuses_classes_that_are_not_lightnings() -> None:
    parser = LightningArgumentParser()
    with pytest.raises(fastlit.utilities.exceptions.MisconfigurationException, match="Cannot add arguments from"):
        parser.add_lightning_class_args(torch.nn.Linear, "net")
    added = parser.add_lightning_class_args(fastlit.callbacks.EarlyStopping, "early_stopping")
    assert "early_stopping.monitor" in added and parser.callback_keys == ["early_stopping"]


def test_two_automatic_optimizer_groups_are_refused(tmp_path: Path) -> None:
    class TwoOptimizers(LightningCLI):
        def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
            parser.add_optimizer_args(torch.optim.SGD, nested_key="opt1")
            parser.add_optimizer_args(torch.optim.Adam, nested_key="opt2")

    with pytest.raises(fastlit.utilities.exceptions.MisconfigurationException, match="at most one optimizer"):
        TwoOptimizers(cli_models.FastModel, cli_models.FastData, trainer_defaults=SMALL,
                      args=["fit", "--opt1.lr=0.1", "--opt2.lr=0.1", f"--trainer.default_root_dir={tmp_path}"])


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


def test_import_fastlit_does_not_import_jsonargparse() -> None:
    out = _run("import sys, fastlit; print('jsonargparse' in sys.modules, 'fastlit.cli' in sys.modules)")
    assert out.returncode == 0 and out.stdout.split() == ["False", "False"], out.stderr


def test_without_jsonargparse_the_module_imports_and_use_names_the_extra() -> None:
    code = (
        "import sys; sys.modules['jsonargparse'] = None\n"
        "import fastlit\n"
        "from fastlit.cli import LightningCLI, LightningArgumentParser, ReduceLROnPlateau, instantiate_class\n"
        "for make in (lambda: LightningCLI(fastlit.LightningModule, args=[]), LightningArgumentParser):\n"
        "    try:\n"
        "        make()\n"
        "    except ImportError as e:\n"
        "        print(type(e).__name__, e)\n"
    )
    out = _run(code)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert len(lines) == 2 and all(line.startswith("ModuleNotFoundError") for line in lines), out.stdout
    assert all("pip install 'fastlit[cli]'" in line for line in lines)
