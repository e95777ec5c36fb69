"""``ModelPruning`` prunes like Lightning's: same masks, same weights after training (fused optimizer on our
side, torch's on theirs), same checkpoint contents, same log lines and the same errors."""
from __future__ import annotations

import logging
import warnings

import pytest
import torch
import torch.nn.utils.prune as torch_prune
from torch import nn
from torch.utils.data import DataLoader

import fastlit


def _model_class(pl, demos):
    class Pruned(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.layer1 = nn.Linear(32, 16)
            self.layer2 = nn.Linear(16, 2)

        def forward(self, x):
            return self.layer2(torch.relu(self.layer1(x)))

        def training_step(self, batch, batch_idx):
            return self(batch).pow(2).mean()

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1, momentum=0.9)

        def train_dataloader(self):
            return DataLoader(demos.RandomDataset(32, 32), batch_size=8)

    return Pruned


def _fit(pl, demos, callback, tmp_path, epochs=3, checkpoint=False):
    torch.manual_seed(0)
    model = _model_class(pl, demos)()
    trainer = pl.Trainer(max_epochs=epochs, callbacks=[callback], logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, default_root_dir=str(tmp_path))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer.fit(model)
    if checkpoint:
        trainer.save_checkpoint(str(tmp_path / "pruned.ckpt"))
    return model, trainer


def _both(lightning, tmp_path, caplog, **kwargs):
    from pytorch_lightning.callbacks import ModelPruning as Theirs
    from pytorch_lightning.demos import boring_classes as their_demos

    from fastlit.callbacks import ModelPruning
    from fastlit.demos import boring_classes as our_demos

    runs = []
    for pl, demos, cls, name in ((fastlit, our_demos, ModelPruning, "f"), (lightning, their_demos, Theirs, "l")):
        caplog.clear()
        with caplog.at_level(logging.INFO):
            model, _ = _fit(pl, demos, cls(**kwargs), tmp_path / name, checkpoint=True)
        lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Applied")]
        saved = torch.load(tmp_path / name / "pruned.ckpt", weights_only=False)["state_dict"]
        runs.append((model, lines, saved))
    return runs


@pytest.mark.parametrize("kwargs", [
    dict(pruning_fn="l1_unstructured", amount=0.3, verbose=2),
    dict(pruning_fn="l1_unstructured", amount=0.2, use_global_unstructured=False, verbose=1,
         make_pruning_permanent=False),
    dict(pruning_fn="ln_structured", amount=0.25, use_global_unstructured=False, pruning_dim=0, pruning_norm=2,
         parameter_names=["weight"], use_lottery_ticket_hypothesis=False),
    dict(pruning_fn="l1_unstructured", amount=lambda epoch: 0.1 * (epoch + 1), apply_pruning=lambda e: e != 1,
         use_lottery_ticket_hypothesis=lambda e: e == 0, verbose=1),
], ids=["global-permanent", "local-masks-kept", "structured", "schedules"])
def test_pruning_trains_like_lightnings(tmp_path, caplog, lightning, kwargs):
    (ours, our_lines, our_ckpt), (theirs, their_lines, their_ckpt) = _both(lightning, tmp_path, caplog, **kwargs)
    assert our_lines == their_lines  # same sparsity per step, same wording
    assert bool(our_lines) == bool(kwargs.get("verbose"))
    assert list(ours.state_dict()) == list(theirs.state_dict())  # weight_orig/weight_mask unless made permanent
    for (name, a), b in zip(ours.state_dict().items(), theirs.state_dict().values()):
        torch.testing.assert_close(a, b, msg=name)
    assert list(our_ckpt) == list(their_ckpt)
    for (name, a), b in zip(our_ckpt.items(), their_ckpt.values()):
        torch.testing.assert_close(a, b, msg=name)


def test_pruned_entries_stay_zero_through_the_fused_step(tmp_path):
    """The fused optimizer updates ``weight_orig`` (the Parameter it already held); the forward's weight stays
    masked, so pruned entries remain exactly zero while training goes on."""
    from fastlit.callbacks import ModelPruning
    from fastlit.demos import boring_classes as demos

    cb = ModelPruning("l1_unstructured", amount=0.5, make_pruning_permanent=False, use_lottery_ticket_hypothesis=False)
    model, trainer = _fit(fastlit, demos, cb, tmp_path, epochs=3)
    from fastlit.optim._base import FusedOptimizerMixin

    assert isinstance(trainer.optimizers[0], FusedOptimizerMixin)  # the fused swap happened
    mask = model.layer1.weight_mask
    assert 0 < int((mask == 0).sum()) < mask.numel()
    assert torch.equal(model.layer1.weight[mask == 0], torch.zeros(int((mask == 0).sum())))
    assert model.layer1.weight_orig is next(p for p in model.parameters() if p.shape == (16, 32))


def test_permanent_pruning_folds_masks_at_train_end(tmp_path):
    from fastlit.callbacks import ModelPruning
    from fastlit.demos import boring_classes as demos

    model, _ = _fit(fastlit, demos, ModelPruning("random_unstructured", amount=0.4), tmp_path, epochs=1)
    names = dict(model.named_parameters())
    assert "layer1.weight" in names and not any(n.endswith("_orig") for n in names)
    assert not any(isinstance(h, torch_prune.BasePruningMethod)
                   for m in model.modules() for h in m._forward_pre_hooks.values())
    # one global threshold over every weight and bias (a bias can be pruned to zero, a weight not at all)
    params = [p for p in model.parameters()]
    zeros = sum(int((p == 0).sum()) for p in params)
    assert zeros == round(0.4 * sum(p.numel() for p in params))


def test_lottery_ticket_resets_kept_weights_to_their_start(tmp_path):
    from fastlit.callbacks import ModelPruning
    from fastlit.demos import boring_classes as demos

    torch.manual_seed(0)
    start = _model_class(fastlit, demos)().layer2.weight.detach().clone()
    cb = ModelPruning("l1_unstructured", amount=0.5, make_pruning_permanent=False,
                      parameters_to_prune=None, parameter_names=["weight"])
    model, _ = _fit(fastlit, demos, cb, tmp_path, epochs=1)
    kept = model.layer2.weight_mask.bool()
    torch.testing.assert_close(model.layer2.weight_orig[kept], start[kept])


@pytest.mark.parametrize("kwargs", [
    dict(pruning_fn="no_such_fn"),
    dict(pruning_fn="l1_unstructured", parameter_names=["gamma"]),
    dict(pruning_fn="random_structured", use_global_unstructured=False),
    dict(pruning_fn="ln_structured", use_global_unstructured=False, pruning_dim=0),
    dict(pruning_fn="ln_structured", pruning_dim=0, pruning_norm=1),
    dict(pruning_fn=torch_prune.L1Unstructured, use_global_unstructured=False),
    dict(pruning_fn=torch_prune.L1Unstructured(amount=0.5)),
    dict(pruning_fn="l1_unstructured", amount="half"),
    dict(pruning_fn="l1_unstructured", verbose=3),
])
def test_bad_arguments_raise_lightnings_errors(lightning, kwargs):
    from pytorch_lightning.callbacks import ModelPruning as Theirs
    from pytorch_lightning.utilities.exceptions import MisconfigurationException as TheirError

    from fastlit.callbacks import ModelPruning
    from fastlit.utilities.exceptions import MisconfigurationException

    with pytest.raises(TheirError) as theirs:
        Theirs(**kwargs)
    with pytest.raises(MisconfigurationException) as ours:
        ModelPruning(**kwargs)
    assert str(ours.value) == str(theirs.value)


def test_parameters_not_in_the_model_are_named(lightning):
    from pytorch_lightning.callbacks import ModelPruning as Theirs

    from fastlit.callbacks import ModelPruning
    from fastlit.demos import boring_classes as demos

    model = _model_class(fastlit, demos)()
    stranger = nn.Linear(2, 2)
    for bad in ([(stranger, "weight")], [(model.layer1, "gamma")], [(model.layer1,)]):
        with pytest.raises(Exception) as theirs:
            Theirs.sanitize_parameters_to_prune(model, bad)
        with pytest.raises(fastlit.utilities.exceptions.MisconfigurationException) as ours:
            ModelPruning.sanitize_parameters_to_prune(model, bad)
        assert str(ours.value) == str(theirs.value)


def test_checkpoints_saved_while_training_hold_folded_weights(tmp_path, lightning):
    """With ``make_pruning_permanent`` a checkpoint written mid-training has plain ``weight`` keys holding
    ``weight_orig * weight_mask`` while the live module keeps training with its masks (as Lightning's)."""
    from pytorch_lightning.callbacks import ModelCheckpoint as TheirCheckpoint, ModelPruning as Theirs
    from pytorch_lightning.demos import boring_classes as their_demos

    from fastlit.callbacks import ModelCheckpoint, ModelPruning
    from fastlit.demos import boring_classes as our_demos

    saved = []
    for pl, demos, prune, ckpt, name in ((fastlit, our_demos, ModelPruning, ModelCheckpoint, "f"),
                                         (lightning, their_demos, Theirs, TheirCheckpoint, "l")):
        torch.manual_seed(0)
        model = _model_class(pl, demos)()
        trainer = pl.Trainer(max_epochs=2, logger=False, enable_progress_bar=False, enable_model_summary=False,
                             callbacks=[prune("l1_unstructured", amount=0.5, use_lottery_ticket_hypothesis=False),
                                        ckpt(dirpath=str(tmp_path / name), save_top_k=-1, filename="{epoch}")])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            trainer.fit(model)
        saved.append(torch.load(tmp_path / name / "epoch=0.ckpt", weights_only=False)["state_dict"])
    ours, theirs = saved
    assert sorted(ours) == sorted(theirs) == ["layer1.bias", "layer1.weight", "layer2.bias", "layer2.weight"]
    assert int((ours["layer1.weight"] == 0).sum()) > 0  # the mask was folded in
    for key in ours:
        torch.testing.assert_close(ours[key], theirs[key], msg=key)
