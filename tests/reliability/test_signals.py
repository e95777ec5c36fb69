"""SIGTERM and Ctrl-C during fit: the step finishes, a checkpoint is written, the process exits with a message,
and resuming from that checkpoint reaches the same weights as a run never interrupted.

The child holds inside one training step (``_train.py --hold-at``) and the signals are sent once it says so, so
where a signal lands, and hence the step the run stops at, does not depend on timing.
"""
import os
import signal
import subprocess
import sys

import pytest
import torch
from waits import finish, popen_reading, wait_until

HOLD_AT = 5  # the step (global step at its start) inside which the signal arrives

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(HERE, "_train.py")
REPO = os.path.dirname(os.path.dirname(HERE))


def _env() -> dict:
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""), OMP_NUM_THREADS="1")
    return env


def reference_weights(tmp_path) -> dict:
    sys.path.insert(0, HERE)
    try:
        import _train
    finally:
        sys.path.remove(HERE)
    root = tmp_path / "ref"
    root.mkdir()
    import fastlit as pl

    torch.manual_seed(0)
    model = _train.Net(str(root), 0.0)
    trainer = pl.Trainer(default_root_dir=str(root), max_epochs=3, logger=False, enable_progress_bar=False,
                         enable_model_summary=False, enable_checkpointing=False, num_sanity_val_steps=0)
    trainer.fit(model, _train.data())
    return model.state_dict()


def _interrupt(root: str, sig: int) -> subprocess.CompletedProcess:
    p = popen_reading([sys.executable, SCRIPT, root, "--hold-at", str(HOLD_AT)], env=_env())
    wait_until(lambda: os.path.exists(os.path.join(root, "holding")), 120, f"the child to reach step {HOLD_AT}",
               proc=p)
    p.send_signal(sig)
    out, err = finish(p, 120)
    return subprocess.CompletedProcess(p.args, p.returncode, out, err)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_saves_checkpoint_and_resume_matches(tmp_path, sig):
    from fastlit.checkpoint.io import load

    root = str(tmp_path / "run")
    os.makedirs(root)
    res = _interrupt(root, sig)
    assert res.returncode == 1, (res.returncode, res.stderr[-2000:])
    ckpt = os.path.join(root, "checkpoints", "interrupted.ckpt")
    assert "checkpoint saved to" in res.stderr and "ckpt_path=" in res.stderr, res.stderr[-2000:]
    assert "Traceback" not in res.stderr, res.stderr[-2000:]
    assert os.path.isfile(ckpt) and not os.path.exists(os.path.join(root, "final.pt"))
    state = load(ckpt)
    assert state["global_step"] == HOLD_AT + 1  # the step the signal interrupted finished, and no other began
    assert [f for f in os.listdir(os.path.dirname(ckpt)) if ".tmp" in f] == []
    # resume in a fresh process: it must finish the remaining steps and land on the uninterrupted weights
    done = subprocess.run([sys.executable, SCRIPT, root, "--resume", ckpt], env=_env(), capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    final = torch.load(os.path.join(root, "final.pt"))
    ref = reference_weights(tmp_path)
    for k in ref:
        torch.testing.assert_close(final[k], ref[k], rtol=0, atol=0)


def test_second_ctrl_c_exits_at_once(tmp_path):
    root = str(tmp_path / "run")
    os.makedirs(root)
    # The step never ends by itself (--hold-forever): the first Ctrl-C waits for it; the second must not.
    p = popen_reading([sys.executable, SCRIPT, root, "--hold-at", "1", "--hold-forever"], env=_env())
    wait_until(lambda: os.path.exists(os.path.join(root, "holding")), 120, "the child to reach step 1", proc=p)
    p.send_signal(signal.SIGINT)
    # two signals before the handler ran would be seen as one: send the second once the first was taken
    p.stderr_lines.wait_for("received Ctrl-C (SIGINT)", 60)
    p.send_signal(signal.SIGINT)
    out, err = finish(p, 60)  # well before the step's own 120 s limit
    assert p.returncode != 0
    assert "KeyboardInterrupt" in err or "Detected KeyboardInterrupt" in out + err
    assert not os.path.exists(os.path.join(root, "checkpoints", "interrupted.ckpt"))


def test_handlers_restored_after_fit(tmp_path):
    import fastlit as pl
    from fastlit.demos.boring_classes import BoringModel

    before = (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT))
    trainer = pl.Trainer(default_root_dir=str(tmp_path), max_steps=2, logger=False, enable_progress_bar=False,
                         enable_model_summary=False, enable_checkpointing=False)
    trainer.fit(BoringModel())
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before
    assert trainer._stop_signal is None
