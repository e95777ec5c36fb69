"""Every script in examples/ runs on its tiny setting (``--fast``) as a user would run it: a subprocess, in a fresh
directory, with scikit-learn's bundled digits. Each test asserts the result line the example promises and that the
numbers are sane for the tiny setting (better than a trivial baseline), plus the example's own claims (reloaded
checkpoint scores the same, resume continues the epoch count, both DDP ranks shard the data, bf16 autocast).
"""
from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("sklearn", reason="the examples need scikit-learn: pip install -e '.[examples]'")

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
NUM = r"([0-9]+(?:\.[0-9]+)?)"


def run_example(name: str, tmp_path: Path, *extra: str, script: Path | None = None, env_fast: bool = False) -> str:
    """Run ``examples/<name>.py --fast --root tmp_path`` and return its stdout (stderr is shown on failure).

    ``env_fast``: ask for the tiny setting with ``FASTLIT_EXAMPLES_FAST=1`` instead of ``--fast``.
    """
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_PORT")}
    # One intra-op thread: these models are tiny, and on a small shared machine more threads only contend.
    env["OMP_NUM_THREADS"] = "1"
    # examples/_digits.py (data + command line) is found also when the script is a copy elsewhere
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(EXAMPLES), env.get("PYTHONPATH")]))
    env.pop("FASTLIT_EXAMPLES_FAST", None)
    if env_fast:
        env["FASTLIT_EXAMPLES_FAST"] = "1"
    fast = [] if env_fast else ["--fast"]
    cmd = [sys.executable, str(script or EXAMPLES / f"{name}.py"), *fast, "--root", str(tmp_path), *extra]
    out = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, f"{name} failed (exit {out.returncode}):\n{out.stdout[-3000:]}\n{out.stderr[-5000:]}"
    return out.stdout


def grab(pattern: str, text: str) -> tuple[str, ...]:
    m = re.search(pattern, text)
    assert m, f"expected a line matching {pattern!r} in:\n{text}"
    return m.groups()


def test_autoencoder(tmp_path: Path) -> None:
    out = run_example("autoencoder", tmp_path)
    mse, baseline = map(float, grab(rf"autoencoder test MSE: {NUM} \(mean-image baseline {NUM}\)", out))
    assert 0 < mse < 0.9 * baseline  # learned something beyond the mean image in 3 epochs
    (reloaded,) = map(float, grab(rf"reloaded from checkpoint: test MSE {NUM}", out))
    assert reloaded == pytest.approx(mse, abs=1e-4)  # the checkpoint holds the trained weights
    assert grab(r"resumed at epoch (\d+) and trained to epoch (\d+)", out) == ("3", "5")
    (ckpt,) = grab(r"checkpoint: (\S+)", out)
    assert ckpt == os.path.join("lightning_logs", "version_0", "checkpoints", "epoch=2-step=114.ckpt")
    assert (tmp_path / ckpt).is_file()


def test_autoencoder_datamodule(tmp_path: Path) -> None:
    out = run_example("autoencoder_datamodule", tmp_path, env_fast=True)  # 3 epochs, else this would take 40
    val, test = map(float, grab(rf"datamodule autoencoder val MSE: {NUM}, test MSE: {NUM}", out))
    assert 0 < val < 0.07 and 0 < test < 0.07  # the mean image scores 0.074 on these splits
    assert grab(r"predicted (\d+) images", out) == ("297",)
    assert grab(r"trained (\d+) epochs; DataModule from checkpoint: batch_size=(\d+), seed=(\d+)", out) == (
        "3", "32", "0")


@pytest.fixture(scope="module")
def cnn_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """One fastlit run of the CNN example, shared by its own test and the differential one."""
    root = tmp_path_factory.mktemp("cnn_fastlit")
    return root, run_example("cnn_classifier", root)


def test_cnn_classifier(cnn_run: tuple[Path, str]) -> None:
    tmp_path, out = cnn_run
    acc, loss = map(float, grab(rf"cnn classifier test accuracy: {NUM} \(test loss {NUM}\)", out))
    assert acc > 0.8 and loss < 0.6  # chance is 0.1 / 2.3
    # trainer.test returns Lightning's list of dicts, and the tutorial prints it
    assert grab(r"\[\{'test_loss': ([0-9.]+), 'test_acc': ([0-9.]+)\}\]", out)
    ckpt = grab(r"(?m)^(lightning_logs/version_0/checkpoints/epoch=\d+-step=\d+\.ckpt)$", out)
    assert (tmp_path / ckpt[0]).is_file()
    (score,) = map(float, grab(rf"(?m)^tensor\({NUM}\)$", out))  # best_model_score: the lowest val_loss
    assert 0 < score < 0.6
    reloaded_acc, _ = map(float, grab(rf"best checkpoint reloaded: test_acc {NUM}, test_loss {NUM}", out))
    assert reloaded_acc > 0.8


def test_gan_manual_optimization(tmp_path: Path) -> None:
    out = run_example("gan", tmp_path)
    fake, classes = grab(rf"gan fake-to-nearest-real distance: {NUM} \(covers (\d+)/10 digit classes\)", out)
    real, noise = map(float, grab(rf"nearest real digit: held-out real {NUM}, uniform noise {NUM}", out))
    assert float(fake) < 0.75 * noise  # fakes are far nearer to real digits than noise is (held-out: `real`)
    assert 1 <= int(classes) <= 10
    # manual optimization: both optimizers step once per batch (23 batches x 15 epochs), and each step counts
    assert grab(r"optimizer steps (\d+)", out) == (str(2 * 23 * 15),)


def test_ddp_two_processes(tmp_path: Path) -> None:
    out = run_example("ddp_classifier", tmp_path)
    (acc, loss) = map(float, grab(rf"ddp classifier test accuracy: {NUM} \(test loss {NUM}\)", out))
    assert acc > 0.7 and loss < 1.0
    # each of the 2 ranks ran half of the 38 batches; only rank 0 printed
    assert grab(r"world_size=(\d+): each rank ran (\d+) of the (\d+)", out) == ("2", "19", "38")
    assert out.count("ddp classifier test accuracy") == 1


def test_bf16_mixed(tmp_path: Path) -> None:
    out = run_example("bf16_mixed", tmp_path)
    (acc, loss) = map(float, grab(rf"bf16-mixed test accuracy: {NUM} \(test loss {NUM}\)", out))
    assert acc > 0.8 and loss < 0.6
    assert grab(r"logits (\S+), weights (\S+), grads (\S+)", out) == ("torch.bfloat16", "torch.float32",
                                                                         "torch.float32")
    (csv_dir,) = grab(r"metrics in (\S+)/metrics.csv", out)
    header = (tmp_path / csv_dir / "metrics.csv").read_text().splitlines()[0].split(",")
    assert {"epoch", "step", "train_loss", "val_acc", "val_loss", "test_acc", "lr-AdamW"} <= set(header)


def test_examples_only_change_the_import() -> None:
    """The examples are Lightning code: fastlit is imported only as ``pl`` or for callbacks/loggers."""
    for path in sorted(EXAMPLES.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.split(".")[0] == "fastlit":
                        assert (alias.name, alias.asname) == ("fastlit", "pl"), f"{path.name}: import {alias.name}"
            elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "fastlit":
                assert node.module in ("fastlit.callbacks", "fastlit.loggers"), f"{path.name}: from {node.module}"


def test_cnn_classifier_same_under_lightning(cnn_run: tuple[Path, str], tmp_path: Path) -> None:
    """Differential: the same example with `import pytorch_lightning as pl` writes the same checkpoint name and
    reaches the same accuracy (not bit-equal: fastlit's fused Adam rounds differently)."""
    pytest.importorskip("pytorch_lightning")
    source = (EXAMPLES / "cnn_classifier.py").read_text()
    assert "import fastlit as pl" in source
    script = tmp_path / "cnn_classifier_pl.py"
    script.write_text(source.replace("import fastlit as pl", "import pytorch_lightning as pl"))
    (tmp_path / "pl").mkdir()
    outs = [cnn_run[1], run_example("cnn_classifier", tmp_path / "pl", script=script)]
    line = rf"cnn classifier test accuracy: {NUM} \(test loss {NUM}\)"
    (fl_acc, fl_loss), (pl_acc, pl_loss) = (tuple(map(float, grab(line, o))) for o in outs)
    assert fl_acc == pytest.approx(pl_acc, abs=0.02) and fl_loss == pytest.approx(pl_loss, abs=0.03)
    ckpt = r"(?m)^(lightning_logs/version_0/checkpoints/epoch=\d+-step=\d+\.ckpt)$"
    assert grab(ckpt, outs[0]) == grab(ckpt, outs[1])
