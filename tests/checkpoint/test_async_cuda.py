"""CUDA staging of the async checkpoint writer: device tensors are copied into pinned staging buffers on a side
stream ordered after the current stream's work, and the current stream waits for the copies, so kernels queued
after the save cannot change what is written. Skips without a GPU only: the code is compiled in every build, so
with a GPU a missing C++ writer fails these tests instead of hiding them."""
from __future__ import annotations

import pytest
import torch

from fastlit.checkpoint import async_io
from fastlit.checkpoint.async_io import AsyncCheckpointIO

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@pytest.fixture(params=["native", "thread"])
def backend(request):
    if request.param == "native" and async_io._native_class()[0] is None:
        pytest.fail(f"a CUDA device is present but the C++ writer is unavailable: {async_io._native_class()[1]}",
                    pytrace=False)
    return request.param


def _state(device: str) -> dict:
    g = torch.Generator(device=device).manual_seed(0)
    return {"epoch": 1, "state_dict": {
        "w": torch.randn(1 << 20, generator=g, device=device),          # 4 MiB: the O_DIRECT path
        "h": torch.randn(300, 7, generator=g, device=device).half(),
        "nc": torch.randn(64, 64, generator=g, device=device)[:, ::2],  # a view: the whole storage is saved
        "empty": torch.empty(0, device=device)}}


def test_cuda_round_trip_and_kernels_after_the_save(tmp_path, backend):
    state = _state("cuda")
    expected = {k: v.cpu() for k, v in state["state_dict"].items()}
    io = AsyncCheckpointIO(backend=backend)
    for step in range(3):
        # queue a long kernel first so the copies really are asynchronous, then write to the tensors after
        torch.cuda._sleep(50_000_000)
        before = {k: v.cpu() for k, v in state["state_dict"].items()} if step else expected
        io.save_deferred(state, tmp_path / f"c{step}.ckpt", None, {t.untyped_storage().data_ptr()
                                                         for t in state["state_dict"].values()})
        for t in state["state_dict"].values():
            t.add_(1)  # on the current stream: must run after the staging copies
        io.fence()
        io.wait()
        loaded = torch.load(tmp_path / f"c{step}.ckpt", weights_only=True, map_location="cpu")["state_dict"]
        for k, v in before.items():
            assert torch.equal(loaded[k], v), (step, k)
    if backend == "native":
        assert io.staging_bytes >= sum(t.untyped_storage().nbytes() for t in state["state_dict"].values())
    io.teardown()


def test_cuda_fit_with_async_checkpoint_matches_sync(tmp_path):
    import fastlit
    from fastlit.callbacks import ModelCheckpoint
    from helpers import models, quiet, randn_loader

    def run(root: str, async_: bool) -> dict:
        torch.manual_seed(0)
        trainer = fastlit.Trainer(**quiet(default_root_dir=str(tmp_path / root), max_epochs=2, logger=False,
                                          accelerator="gpu", devices=1, async_checkpoint=async_,
                                          callbacks=[ModelCheckpoint(every_n_train_steps=1, save_top_k=-1,
                                                                     filename="{step}")]))
        trainer.fit(models(fastlit).BoringModel(), randn_loader(16), randn_loader(8))
        return {p.name: torch.load(p, weights_only=True, map_location="cpu")["state_dict"]
                for p in sorted((tmp_path / root).rglob("*.ckpt"))}

    s, a = run("sync", False), run("async", True)
    assert s.keys() == a.keys() and len(s) == 8
    for name in s:
        for k in s[name]:
            assert torch.equal(s[name][k], a[name][k]), (name, k)
