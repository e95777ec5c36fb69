"""``BaseFinetuning`` / ``BackboneFinetuning`` train like Lightning's: same frozen parameters, same param group
added at the same epoch with the same learning rates, same weights after training."""
from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader

import fastlit


def _model_class(pl, demos):
    class Backboned(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            # BatchNorm after the ReLU: a Linear bias right before a BatchNorm has a zero gradient, and Adam
            # scales the rounding noise in it up to a full-size step (fused and torch kernels round differently)
            self.backbone = nn.Sequential(nn.Linear(32, 16), nn.ReLU(), nn.BatchNorm1d(16))
            self.head = nn.Linear(16, 2)

        def forward(self, x):
            return self.head(self.backbone(x))

        def training_step(self, batch, batch_idx):
            return self(batch).pow(2).mean()

        def configure_optimizers(self):
            return torch.optim.Adam(filter(lambda p: p.requires_grad, self.parameters()), lr=0.01)

        def train_dataloader(self):
            return DataLoader(demos.RandomDataset(32, 64), batch_size=8)

    return Backboned


def _fit(pl, demos, callbacks, tmp_path, epochs=3):
    torch.manual_seed(0)
    model = _model_class(pl, demos)()
    trainer = pl.Trainer(max_epochs=epochs, callbacks=callbacks, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, default_root_dir=str(tmp_path))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer.fit(model)
    return model, trainer


def test_backbone_finetuning_trains_like_lightnings(tmp_path, lightning):
    from pytorch_lightning.callbacks import BackboneFinetuning as Theirs
    from pytorch_lightning.demos import boring_classes as their_demos

    from fastlit.callbacks import BackboneFinetuning
    from fastlit.demos import boring_classes as our_demos

    def schedule(epoch):
        return 1.5

    ours_cb = BackboneFinetuning(unfreeze_backbone_at_epoch=1, lambda_func=schedule, backbone_initial_lr=0.001)
    theirs_cb = Theirs(unfreeze_backbone_at_epoch=1, lambda_func=schedule, backbone_initial_lr=0.001)
    ours, t1 = _fit(fastlit, our_demos, [ours_cb], tmp_path / "f")
    theirs, t2 = _fit(lightning, their_demos, [theirs_cb], tmp_path / "l")
    groups1, groups2 = t1.optimizers[0].param_groups, t2.optimizers[0].param_groups
    assert [len(g["params"]) for g in groups1] == [len(g["params"]) for g in groups2] == [4, 2]
    assert [g["lr"] for g in groups1] == pytest.approx([g["lr"] for g in groups2])
    assert groups1[1]["lr"] == pytest.approx(0.001 * 1.5)  # unfrozen at epoch 1 at 0.001, x1.5 at epoch 2
    assert ours_cb.state_dict() == theirs_cb.state_dict()
    for (name, a), b in zip(ours.state_dict().items(), theirs.state_dict().values()):
        torch.testing.assert_close(a, b, msg=name)
    assert all(p.requires_grad for p in ours.parameters())


def test_backbone_stays_frozen_until_its_epoch(tmp_path):
    from fastlit.callbacks import BackboneFinetuning
    from fastlit.demos import boring_classes as demos

    cb = BackboneFinetuning(unfreeze_backbone_at_epoch=5)
    torch.manual_seed(0)
    before = _model_class(fastlit, demos)().backbone[0].weight.detach().clone()
    model, trainer = _fit(fastlit, demos, [cb], tmp_path, epochs=2)
    torch.testing.assert_close(model.backbone[0].weight, before)  # frozen: untouched
    assert not model.backbone[0].weight.requires_grad and model.backbone[2].weight.requires_grad  # BN trains
    assert len(trainer.optimizers[0].param_groups) == 1


def test_backbone_finetuning_needs_a_backbone(tmp_path, monkeypatch):
    from fastlit.callbacks import BackboneFinetuning
    from fastlit.demos import BoringModel
    from fastlit.utilities.exceptions import MisconfigurationException

    class Plain(BoringModel):
        backbone = None

    # only on_fit_start's check is under test (setup's freeze would fail on the missing backbone first)
    monkeypatch.setattr(BackboneFinetuning, "freeze_before_training", lambda self, m: None)
    trainer = fastlit.Trainer(max_epochs=1, callbacks=[BackboneFinetuning()], logger=False,
                              enable_progress_bar=False, default_root_dir=str(tmp_path))
    with pytest.raises(MisconfigurationException, match="backbone"):
        trainer.fit(Plain())


def test_freeze_helpers():
    from fastlit.callbacks import BaseFinetuning

    net = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2), nn.Sequential(nn.Linear(2, 2)))
    assert len(BaseFinetuning.flatten_modules(net)) == 3
    BaseFinetuning.freeze(net, train_bn=False)
    assert not any(p.requires_grad for p in net.parameters()) and not net[1].track_running_stats
    opt = torch.optim.SGD([net[0].weight], lr=1.0)
    with pytest.warns(UserWarning, match="already exist"):
        BaseFinetuning.unfreeze_and_add_param_group(net, opt, train_bn=True)
    assert all(p.requires_grad for p in net.parameters()) and net[1].track_running_stats
    assert len(opt.param_groups) == 2 and len(opt.param_groups[1]["params"]) == 5
    assert opt.param_groups[1]["lr"] == pytest.approx(0.1)  # the first group's lr / initial_denom_lr


def test_added_parameter_that_equals_another_by_value_is_still_added():
    """Membership is by identity (Lightning compares values, and so would skip the second zero bias)."""
    from fastlit.callbacks import BaseFinetuning

    a, b = nn.Linear(2, 2), nn.Linear(2, 2)
    for lin in (a, b):
        nn.init.zeros_(lin.bias)
    BaseFinetuning.freeze(b)
    opt = torch.optim.SGD(a.parameters(), lr=1.0)
    BaseFinetuning.unfreeze_and_add_param_group(b, opt)
    assert any(p is b.bias for p in opt.param_groups[1]["params"])


def test_resume_after_the_unfreeze_epoch(tmp_path):
    from fastlit.callbacks import BackboneFinetuning, ModelCheckpoint
    from fastlit.demos import boring_classes as demos

    def run(epochs, ckpt_path=None):
        torch.manual_seed(0)
        model = _model_class(fastlit, demos)()
        callbacks = [BackboneFinetuning(1, lambda e: 1.5, backbone_initial_lr=0.001),
                     ModelCheckpoint(dirpath=str(tmp_path), save_last=True)]
        trainer = fastlit.Trainer(max_epochs=epochs, callbacks=callbacks, logger=False, enable_progress_bar=False,
                                  enable_model_summary=False, default_root_dir=str(tmp_path))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            trainer.fit(model, ckpt_path=ckpt_path)
        return trainer

    run(2)
    resumed = run(3, ckpt_path=str(tmp_path / "last.ckpt"))
    assert [len(g["params"]) for g in resumed.optimizers[0].param_groups] == [4, 2]
