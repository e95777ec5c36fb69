"""DDP on CPU (gloo, 2 processes): the script re-launch, torchrun, equivalence to single-process training,
one checkpoint file, resume, sync_dist metrics, and a failing rank ending the run with its own error."""
import glob
import json
import os
import subprocess
import sys
import time

import pytest
import torch
from waits import finish, popen_reading, wait_until

SCRIPT = os.path.join(os.path.dirname(__file__), "ddp_script.py")
HOLD_AT = 2  # the signal tests' signal arrives inside the step that starts at this global step


def _run(tmp_path, mode="fit", launcher=None, timeout=240, **env):
    full_env = dict(os.environ, **{k: str(v) for k, v in env.items()})
    for key in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT", "FASTLIT_DDP_ERRDIR"):
        full_env.pop(key, None)
    cmd = [sys.executable, SCRIPT, str(tmp_path), mode]
    if launcher == "torchrun":
        cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node=2", "--master-port=0",
               "--rdzv-backend=c10d", "--rdzv-endpoint=127.0.0.1:0", SCRIPT, str(tmp_path), mode]
    t0 = time.monotonic()
    proc = subprocess.run(cmd, env=full_env, capture_output=True, text=True, timeout=timeout)
    return proc, time.monotonic() - t0


def _ranks(tmp_path):
    return {int(os.path.basename(p)[4:-5]): json.load(open(p)) for p in glob.glob(str(tmp_path / "rank*.json"))}


@pytest.mark.parametrize("launcher", [None, "torchrun"])
def test_two_ranks_end_identical_and_match_one_process_with_double_batch(tmp_path, launcher):
    proc, _ = _run(tmp_path / "ddp", launcher=launcher)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ranks = _ranks(tmp_path / "ddp")
    assert sorted(ranks) == [0, 1] and all(r["world_size"] == 2 for r in ranks.values())
    assert ranks[0]["weights"] == ranks[1]["weights"]
    assert ranks[0]["best"] == ranks[1]["best"] and ranks[0]["best"].endswith("epoch=1-step=8.ckpt")
    assert ranks[0]["global_step"] == 8  # 64 samples / (2 ranks x 8) x 2 epochs
    single, _ = _run(tmp_path / "single", TEST_DEVICES=1, TEST_BATCH=16)
    assert single.returncode == 0, single.stderr[-3000:]
    one = _ranks(tmp_path / "single")[0]
    assert one["global_step"] == 8
    for a, b in zip(ranks[0]["weights"], one["weights"]):
        assert torch.allclose(torch.tensor(a), torch.tensor(b), atol=1e-5)
    # sync_dist epoch metrics are the global mean on every rank
    assert ranks[0]["metrics"]["rank_value"] == ranks[1]["metrics"]["rank_value"] == 0.5
    assert ranks[0]["metrics"]["val_loss"] == pytest.approx(ranks[1]["metrics"]["val_loss"])
    assert ranks[0]["metrics"]["train_loss"] == pytest.approx(one["metrics"]["train_loss"], abs=1e-5)


def test_fused_step_with_clipping_sees_the_same_global_norm_on_every_rank(tmp_path):
    proc, _ = _run(tmp_path, TEST_FUSED=1, TEST_CLIP=0.05)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ranks = _ranks(tmp_path)
    # the norm is taken after DDP's all-reduce, so it is the global one, identical on both ranks
    assert ranks[0]["grad_norm"] > 0.05 and ranks[0]["grad_norm"] == ranks[1]["grad_norm"]
    assert ranks[0]["weights"] == ranks[1]["weights"]


def test_checkpoint_written_once_and_resumes_under_ddp(tmp_path):
    proc, _ = _run(tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ckpts = glob.glob(str(tmp_path / "**" / "*.ckpt"), recursive=True)
    assert [os.path.basename(p) for p in ckpts] == ["epoch=1-step=8.ckpt"]
    assert len(glob.glob(str(tmp_path / "lightning_logs" / "version_*"))) == 1  # one logger dir, not one per rank
    proc, _ = _run(tmp_path, mode="resume", TEST_CKPT=ckpts[0])
    assert proc.returncode == 0, proc.stderr[-3000:]
    ranks = _ranks(tmp_path)
    assert ranks[0]["global_step"] == ranks[1]["global_step"] == 12 and ranks[0]["epoch"] == 3
    assert ranks[0]["weights"] == ranks[1]["weights"]


def test_async_checkpoints_under_ddp_equal_sync_ones(tmp_path):
    # rank 0 writes in the background with deferred staging; rank 1 never saves (its fences are free)
    for sub, env in (("sync", {}), ("async", {"TEST_ASYNC": "1"})):
        (tmp_path / sub).mkdir()
        proc, _ = _run(tmp_path / sub, **env)
        assert proc.returncode == 0, proc.stderr[-3000:]
    s, a = (glob.glob(str(tmp_path / sub / "**" / "*.ckpt"), recursive=True) for sub in ("sync", "async"))
    assert [os.path.basename(p) for p in a] == [os.path.basename(p) for p in s] == ["epoch=1-step=8.ckpt"]
    sd_s, sd_a = (torch.load(p[0], weights_only=True)["state_dict"] for p in (s, a))
    assert sd_s.keys() == sd_a.keys() and all(torch.equal(sd_s[k], sd_a[k]) for k in sd_s)


def test_failing_rank_stops_the_run_with_its_error(tmp_path):
    proc, seconds = _run(tmp_path, TEST_FAIL_RANK=1, timeout=180)
    assert proc.returncode != 0
    assert "boom on rank 1" in proc.stderr
    assert seconds < 120
    assert not _ranks(tmp_path)  # nobody finished


@pytest.mark.parametrize("launcher", [None, "torchrun"])
def test_sigterm_stops_every_rank_after_the_same_step_and_the_run_resumes_exactly(tmp_path, launcher):
    # Self-launched: SIGTERM reaches rank 0 only (the script the user started); torchrun forwards it to all ranks.
    import signal

    ref, run, resume = tmp_path / "ref", tmp_path / "run", tmp_path / "resume"
    for d in (ref, run, resume):
        d.mkdir()
    proc, _ = _run(ref, launcher=launcher)
    assert proc.returncode == 0, proc.stderr[-12000:]
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR",
                                                              "MASTER_PORT", "FASTLIT_DDP_ERRDIR")}
    cmd = [sys.executable, SCRIPT, str(run), "fit"]
    if launcher == "torchrun":
        cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node=2", "--master-port=0",
               "--rdzv-backend=c10d", "--rdzv-endpoint=127.0.0.1:0", SCRIPT, str(run), "fit"]
    # Steps of >= 0.3 s make rank 0 propose a vote after every batch; rank 0 holds inside step HOLD_AT until it
    # has noted the SIGTERM, so the vote one batch later carries it.
    p = popen_reading(cmd, env=dict(env, TEST_SLEEP="0.3", TEST_HOLD_AT=str(HOLD_AT)))
    wait_until(lambda: (run / "holding0").exists(), 120, f"rank 0 to reach step {HOLD_AT}", proc=p)
    p.send_signal(signal.SIGTERM)
    out, err = finish(p, 180)
    assert p.returncode != 0 and "stopped by SIGTERM at step" in err, err[-3000:]
    assert "failed, so rank" not in err  # an agreed stop, not reported as a rank failure
    (ckpt,) = glob.glob(str(run / "**" / "interrupted.ckpt"), recursive=True)
    step = torch.load(ckpt, weights_only=True)["global_step"]
    assert HOLD_AT + 1 <= step <= HOLD_AT + 2, step  # the held step, then at most the batch the vote takes
    assert not _ranks(run)  # fit raised on every rank
    proc, _ = _run(resume, launcher=launcher, TEST_CKPT=ckpt)
    assert proc.returncode == 0, proc.stderr[-3000:]
    got, want = _ranks(resume), _ranks(ref)
    assert got[0]["global_step"] == got[1]["global_step"] == want[0]["global_step"] == 8
    for a, b in zip(got[0]["weights"], want[0]["weights"]):
        assert torch.allclose(torch.tensor(a), torch.tensor(b), atol=1e-6)
    assert got[0]["weights"] == got[1]["weights"]


def test_ctrl_c_in_the_terminal_stops_all_ranks_with_one_checkpoint(tmp_path):
    # A terminal's Ctrl-C sends SIGINT to the whole process group: every rank notes it; they agree and stop together.
    import signal

    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR",
                                                              "MASTER_PORT", "FASTLIT_DDP_ERRDIR")}
    # Both ranks hold inside step HOLD_AT (so both are in fit, their handlers installed) until each noted it.
    p = popen_reading([sys.executable, SCRIPT, str(tmp_path), "fit"], start_new_session=True,
                      env=dict(env, TEST_SLEEP="0.3", TEST_HOLD_AT=str(HOLD_AT), TEST_HOLD_RANKS="0,1"))
    wait_until(lambda: (tmp_path / "holding0").exists() and (tmp_path / "holding1").exists(), 120,
               f"both ranks to reach step {HOLD_AT}", proc=p)
    os.killpg(p.pid, signal.SIGINT)
    out, err = finish(p, 180)
    assert p.returncode != 0 and "stopped by Ctrl-C at step" in err, err[-3000:]
    assert "failed, so rank" not in err and "Traceback" not in err
    (ckpt,) = glob.glob(str(tmp_path / "**" / "interrupted.ckpt"), recursive=True)
    step = torch.load(ckpt, weights_only=True)["global_step"]
    assert HOLD_AT + 1 <= step <= HOLD_AT + 2, step
