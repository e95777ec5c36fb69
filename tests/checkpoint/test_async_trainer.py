"""``Trainer(async_checkpoint=True)`` / ``plugins=[AsyncCheckpointIO()]`` inside real fits: same files and contents
as synchronous saving, top-k deletion only after the new file is durable, errors surfacing at the next step,
and Lightning reading what we wrote in the background."""
from __future__ import annotations

import os
import traceback
from typing import Any

import pytest
import torch

import fastlit
from fastlit.callbacks import Callback, ModelCheckpoint
from fastlit.checkpoint import async_io
from fastlit.checkpoint.io import TorchCheckpointIO
from fastlit.plugins import AsyncCheckpointIO
from helpers import find_files, models, quiet, randn_loader
from waits import wait_until

if os.environ.get("FASTLIT_IO_DEV_LIB") and async_io._native_class()[0] is None:
    torch.ops.load_library(os.environ["FASTLIT_IO_DEV_LIB"])


def _fit(pl: Any, root: str, seed: int = 0, callbacks: Any = None, **kw: Any) -> Any:
    torch.manual_seed(seed)
    model = models(pl).BoringModel()
    ckpt = ModelCheckpoint if pl is fastlit else pl.callbacks.ModelCheckpoint
    cbs = callbacks if callbacks is not None else [
        ckpt(monitor="val_loss", save_top_k=2, every_n_train_steps=2, save_last=True)]
    if pl is fastlit:
        kw.setdefault("fused_optimizer", False)  # these tests are about checkpoints, not the optimizer kernels
    trainer = pl.Trainer(**quiet(default_root_dir=root, max_epochs=3, logger=False, callbacks=cbs, **kw))
    trainer.fit(model, randn_loader(16), randn_loader(8))
    return trainer, model


def _contents(root: str) -> dict[str, dict]:
    out = {}
    for f in find_files(root, ".ckpt"):
        ck = torch.load(os.path.join(root, f), weights_only=True)
        ck.pop("callbacks", None)  # holds absolute dirpaths
        out[f] = ck
    return out


@pytest.mark.parametrize("how", ["flag", "plugin"])
def test_async_fit_writes_the_same_checkpoints_as_sync(tmp_path, how):
    kw = {"async_checkpoint": True} if how == "flag" else {"plugins": [AsyncCheckpointIO()]}
    sync_trainer, _ = _fit(fastlit, str(tmp_path / "sync"))
    trainer, model = _fit(fastlit, str(tmp_path / "async"), **kw)
    io = trainer._checkpoint_io
    assert isinstance(io, AsyncCheckpointIO) and isinstance(sync_trainer._checkpoint_io, TorchCheckpointIO)
    assert io.pending == 0 and io.staging_bytes == 0  # fit waited for the last write and freed the buffers
    a, s = _contents(str(tmp_path / "async")), _contents(str(tmp_path / "sync"))
    assert sorted(a) == sorted(s) and len(a) == 3
    for f in a:
        assert a[f].keys() == s[f].keys()
        for k, v in a[f]["state_dict"].items():
            assert torch.equal(v, s[f]["state_dict"][k])
        assert a[f]["global_step"] == s[f]["global_step"] and a[f]["loops"] == s[f]["loops"]
    # a save after fit is durable when the call returns
    path = str(tmp_path / "after.ckpt")
    trainer.save_checkpoint(path)
    assert io.pending == 0 and torch.equal(torch.load(path, weights_only=True)["state_dict"]["layer.weight"],
                                           model.layer.weight)


def test_topk_old_file_removed_only_after_new_file_is_durable(tmp_path):
    events, requested, late = [], [0], []

    class Recording(TorchCheckpointIO):
        saves = 0

        def save_checkpoint(self, checkpoint, path, storage_options=None):
            # (the writer's thread) every save after the first replaces the previous file: hold this write until
            # ModelCheckpoint has asked to remove that file, so the removal request always meets a write in flight
            Recording.saves += 1
            n = Recording.saves - 1  # removal requests this save must meet
            if n:
                try:
                    wait_until(lambda: requested[0] >= n, 30, f"removal request {n}")
                except AssertionError as e:
                    late.append(str(e))
            super().save_checkpoint(checkpoint, path)
            events.append(("saved", os.path.basename(path)))

        def remove_checkpoint(self, path):
            events.append(("remove", os.path.basename(path), sorted(os.listdir(os.path.dirname(path)))))
            super().remove_checkpoint(path)

    io = AsyncCheckpointIO(Recording())
    front_remove = io.remove_checkpoint

    def remove_requested(path):  # the Trainer's side: ModelCheckpoint asks while the new file is being written
        requested[0] += 1
        front_remove(path)

    io.remove_checkpoint = remove_requested
    _fit(fastlit, str(tmp_path), plugins=[io], callbacks=[ModelCheckpoint(save_top_k=1, every_n_train_steps=1)])
    assert not late, late
    removes = [i for i, e in enumerate(events) if e[0] == "remove"]
    assert len(removes) == requested[0] == Recording.saves - 1 == 11
    saved = [e[1] for e in events if e[0] == "saved"]
    for k, i in enumerate(removes):  # the k-th removal drops save k once save k + 1, replacing it, is on disk
        assert events[i][1] == saved[k]
        assert ("saved", saved[k + 1]) in events[:i] and saved[k + 1] in events[i][2], (k, events[: i + 1])
    assert find_files(str(tmp_path), ".ckpt") == [os.path.join("checkpoints", "epoch=2-step=12.ckpt")]


def test_failed_write_raises_at_the_next_step(tmp_path, monkeypatch):
    monkeypatch.setattr(async_io.os, "makedirs", lambda *a, **k: None)  # the target directory "disappears"
    bad = str(tmp_path / "gone" / "x.ckpt")

    class SaveOnce(Callback):
        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            if trainer.global_step == 2:
                trainer.save_checkpoint(bad)
                writer = trainer._checkpoint_io._writer  # let the background write finish (fail) before going on
                wait_until(lambda: writer.pending() == 0, 60, "the failing background write to finish")

    torch.manual_seed(0)
    trainer = fastlit.Trainer(**quiet(default_root_dir=str(tmp_path), max_steps=40, logger=False,
                                      enable_checkpointing=False, async_checkpoint=True, callbacks=[SaveOnce()],
                                      fused_optimizer=False))
    with pytest.raises(OSError, match="gone/x.ckpt") as err:
        trainer.fit(models(fastlit).BoringModel(), randn_loader(64, batch_size=1))
    assert any(f.name == "poll" for f in traceback.extract_tb(err.value.__traceback__))  # raised by a step
    assert trainer.global_step == 2  # at the start of the very next batch, before its step


def test_lightning_reads_async_checkpoints(tmp_path, lightning):
    trainer, model = _fit(fastlit, str(tmp_path), async_checkpoint=True)
    last = os.path.join(str(tmp_path), "checkpoints", "last.ckpt")
    loaded = models(lightning).BoringModel.load_from_checkpoint(last)
    assert torch.equal(loaded.layer.weight, model.layer.weight)
    # and Lightning's own AsyncCheckpointIO produces the same file names
    from pytorch_lightning.plugins import AsyncCheckpointIO as LAsync

    _fit(lightning, str(tmp_path / "pl"), plugins=[LAsync()])
    assert sorted(os.listdir(tmp_path / "pl" / "checkpoints")) == sorted(os.listdir(tmp_path / "checkpoints"))


# ------------------------------------------------------------------ deferred staging (the default) inside fits
class _MutatesAfterSave(fastlit.Callback):
    """Writes to the weights through ``.data`` (invisible to version counters) at the next batch start: only the
    Trainer's fence before user hooks keeps that out of a checkpoint whose copy is still pending."""

    def on_train_batch_start(self, trainer: Any, module: Any, batch: Any, batch_idx: int) -> None:
        module.layer.weight.data.mul_(0.5)


def _module_hook_model(pl: Any) -> Any:
    class M(models(pl).BoringModel):
        def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
            self.layer.bias.data.add_(1.0)  # runs after ModelCheckpoint's save of this batch

    return M()


@pytest.mark.skipif(async_io._native_class()[0] is None, reason="the C++ writer (fastlit._C) is not built")
@pytest.mark.parametrize("case", ["plain", "adam_accumulate", "fused_adam_clip", "user_callback", "module_hook",
                                  "manual"])
def test_deferred_copies_are_fenced_before_every_write(tmp_path, monkeypatch, case):
    # The stager sleeps before each copy, so any write to parameters/optimizer state that the Trainer does not
    # fence lands in the file (or fails the save); the checkpoints must equal synchronous saving's.
    def run(root: str, async_: bool) -> Any:
        torch.manual_seed(0)
        model = {"module_hook": _module_hook_model, "manual": lambda pl: models(pl).ManualBoringModel()}.get(
            case, lambda pl: models(pl).BoringModel())(fastlit)
        if case in ("adam_accumulate", "fused_adam_clip"):
            model.configure_optimizers = lambda: torch.optim.Adam(model.parameters(), lr=0.01)
        cbs = [ModelCheckpoint(every_n_train_steps=1, save_top_k=-1, filename="{step}")]
        if case == "user_callback":
            cbs.insert(0, _MutatesAfterSave())
        trainer = fastlit.Trainer(**quiet(default_root_dir=root, max_epochs=2, logger=False, callbacks=cbs,
                                          fused_optimizer=case == "fused_adam_clip", async_checkpoint=async_,
                                          gradient_clip_val=0.5 if case == "fused_adam_clip" else None,
                                          accumulate_grad_batches=2 if case == "adam_accumulate" else 1))
        trainer.fit(model, randn_loader(16), randn_loader(8))
        return trainer

    sync = run(str(tmp_path / "sync"), False)
    monkeypatch.setenv("FASTLIT_CKPT_TEST_STAGE_DELAY_MS", "30")
    trainer = run(str(tmp_path / "async"), True)
    io = trainer._checkpoint_io
    assert io.num_deferred == io.num_saves > 0  # every ModelCheckpoint save left its big copy to the stager
    a, s = _contents(str(tmp_path / "async")), _contents(str(tmp_path / "sync"))
    assert sorted(a) == sorted(s) and len(a) == sync.global_step
    for f in a:
        for k, v in s[f]["state_dict"].items():
            assert torch.equal(a[f]["state_dict"][k], v), (f, k)
        assert str(a[f]["optimizer_states"]) == str(s[f]["optimizer_states"]), f


@pytest.mark.skipif(async_io._native_class()[0] is None, reason="the C++ writer (fastlit._C) is not built")
def test_user_save_checkpoint_during_fit_is_not_deferred(tmp_path):
    # trainer.save_checkpoint from user code is followed by more user code: it copies everything in the call.
    class SavesThenWrites(fastlit.Callback):
        def on_train_epoch_end(self, trainer: Any, module: Any) -> None:
            trainer.save_checkpoint(str(tmp_path / f"user-{trainer.current_epoch}.ckpt"))
            self.expected = module.layer.weight.detach().clone()
            module.layer.weight.data.zero_()

    cb = SavesThenWrites()
    torch.manual_seed(0)
    trainer = fastlit.Trainer(**quiet(default_root_dir=str(tmp_path), max_epochs=1, logger=False, callbacks=[cb],
                                      enable_checkpointing=False, async_checkpoint=True))
    trainer.fit(models(fastlit).BoringModel(), randn_loader(16))
    assert trainer._checkpoint_io.num_deferred == 0
    saved = torch.load(tmp_path / "user-0.ckpt", weights_only=True)["state_dict"]["layer.weight"]
    assert torch.equal(saved, cb.expected)


def test_python_thread_writer_in_a_fit_copies_eagerly(tmp_path):
    # Without the C++ writer (here forced) nothing is deferred and the fences cost nothing; same files as sync.
    sync_trainer, _ = _fit(fastlit, str(tmp_path / "sync"))
    trainer, _ = _fit(fastlit, str(tmp_path / "thread"), plugins=[AsyncCheckpointIO(backend="thread")])
    io = trainer._checkpoint_io
    assert io.num_saves > 0 and io.num_deferred == 0 and trainer._checkpoint_connector.fence is not None
    a, s = _contents(str(tmp_path / "thread")), _contents(str(tmp_path / "sync"))
    assert sorted(a) == sorted(s)
    for f in a:
        for k, v in s[f]["state_dict"].items():
            assert torch.equal(a[f]["state_dict"][k], v)
