"""What ``training_step`` may return (tensor, dict with "loss", None), what ``trainer.validate/test`` return and
print, and what ``trainer.predict`` returns: each compared with Lightning on the same model and data."""
from __future__ import annotations

from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

import fastlit
from helpers import classes_dataset, models, quiet, randn_dataset

pl_lightning = pytest.importorskip("pytorch_lightning")


def _returning_module(pl: Any) -> type:
    class Ret(pl.LightningModule):
        def __init__(self, mode: str) -> None:
            super().__init__()
            torch.manual_seed(0)
            self.layer = torch.nn.Linear(8, 2)
            self.mode = mode
            self.outputs: list = []

        def training_step(self, batch: Any, batch_idx: int) -> Any:
            loss = F.mse_loss(self.layer(batch[0]), batch[1])
            if self.mode == "tensor":
                return loss
            if self.mode == "dict":
                return {"loss": loss, "extra": batch_idx, "t": loss * 2}
            if self.mode == "none_odd":
                return None if batch_idx % 2 else loss
            return None

        def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
            if outputs is None:
                self.outputs.append(None)
            else:
                self.outputs.append({k: (("tensor", v.requires_grad) if torch.is_tensor(v) else v)
                                     for k, v in outputs.items()})

        def configure_optimizers(self) -> Any:
            return torch.optim.SGD(self.parameters(), lr=0.1, momentum=0.9)

    return Ret


@pytest.mark.parametrize("mode", ["tensor", "dict", "none_odd", "none"])
@pytest.mark.parametrize("accumulate", [1, 2])
def test_training_step_return_values_match_lightning(mode: str, accumulate: int, tmp_path: Any) -> None:
    observed = []
    for pl in (pl_lightning, fastlit):
        model = _returning_module(pl)(mode)
        trainer = pl.Trainer(**quiet(max_epochs=2, logger=False, enable_checkpointing=False,
                                     accumulate_grad_batches=accumulate, default_root_dir=str(tmp_path)))
        trainer.fit(model, DataLoader(randn_dataset(16), batch_size=4))
        observed.append((trainer.global_step, model.outputs, [p.detach().clone() for p in model.parameters()]))
    (gs_pl, out_pl, w_pl), (gs_fl, out_fl, w_fl) = observed
    assert gs_fl == gs_pl
    assert out_fl == out_pl
    for a, b in zip(w_pl, w_fl):
        torch.testing.assert_close(b, a)
    if mode == "none":
        init = _returning_module(fastlit)("none")
        for a, b in zip(init.parameters(), w_fl):
            assert torch.equal(a, b)  # no step ever changed a weight


def test_training_step_bad_return_is_a_clear_error() -> None:
    class Bad(models(fastlit).BoringModel):
        def training_step(self, batch: Any, batch_idx: int) -> Any:
            return {"los": super().training_step(batch, batch_idx)}

    trainer = fastlit.Trainer(**quiet(max_epochs=1, logger=False, enable_checkpointing=False))
    with pytest.raises(Exception, match="'loss' key"):
        trainer.fit(Bad(), DataLoader(randn_dataset(8), batch_size=4))


# ------------------------------------------------------------------------------------------- validate / test
def _eval_results(pl: Any, entry: str, tmp_path: Any, multi: bool, capsys: Any) -> tuple[list, str]:
    torch.manual_seed(0)
    model = models(pl).Classifier()
    loaders = [DataLoader(classes_dataset(20, seed=s), batch_size=8) for s in (1, 2)]
    trainer = pl.Trainer(**quiet(max_epochs=1, logger=False, default_root_dir=str(tmp_path)))
    capsys.readouterr()
    out = getattr(trainer, entry)(model, dataloaders=loaders if multi else loaders[0])
    return out, capsys.readouterr().out


def _approx(results: list[dict]) -> list[dict]:
    return [{k: pytest.approx(v, rel=1e-6) for k, v in r.items()} for r in results]


@pytest.mark.parametrize("multi", [False, True])
@pytest.mark.parametrize("entry", ["validate", "test"])
def test_validate_and_test_return_lightnings_values(entry: str, multi: bool, tmp_path: Any, capsys: Any,
                                                   monkeypatch: Any, lightning_without_rich: None) -> None:
    monkeypatch.setenv("COLUMNS", "100")
    expected, pl_printed = _eval_results(pl_lightning, entry, tmp_path / "pl", multi, capsys)
    got, fl_printed = _eval_results(fastlit, entry, tmp_path / "fl", multi, capsys)
    assert isinstance(got, list) and all(type(v) is float for r in got for v in r.values())
    assert [sorted(r) for r in got] == [sorted(r) for r in expected]
    assert got == _approx(expected)
    # the printed results table is Lightning's, character for character
    assert fl_printed == pl_printed
    stage = "Validate" if entry == "validate" else "Test"
    assert f"{stage} metric" in fl_printed and "DataLoader 0" in fl_printed and "dataloader_idx" not in fl_printed


def test_validate_verbose_false_prints_nothing(capsys: Any) -> None:
    model = models(fastlit).Classifier()
    trainer = fastlit.Trainer(**quiet(logger=False))
    capsys.readouterr()
    out = trainer.validate(model, DataLoader(classes_dataset(16), batch_size=8), verbose=False)
    assert set(out[0]) == {"val_loss", "val_acc"}
    assert "Validate metric" not in capsys.readouterr().out


def test_test_without_model_uses_best_checkpoint(tmp_path: Any) -> None:
    torch.manual_seed(0)
    model = models(fastlit).Classifier()
    dl = DataLoader(classes_dataset(16), batch_size=8)
    trainer = fastlit.Trainer(**quiet(max_epochs=2, logger=False, default_root_dir=str(tmp_path)))
    trainer.fit(model, dl, dl)
    res = trainer.test(dataloaders=dl, verbose=False)
    assert trainer.ckpt_path == trainer.checkpoint_callback.best_model_path
    assert trainer.ckpt_path.endswith("epoch=1-step=4.ckpt")
    assert set(res[0]) == {"test_loss", "test_acc"}


# ------------------------------------------------------------------------------------------------- predict
def _predict(pl: Any, multi: bool, return_predictions: Any) -> Any:
    torch.manual_seed(0)
    model = models(pl).BoringModel()
    loaders = [DataLoader(randn_dataset(6, seed=s), batch_size=4) for s in (1, 2)]
    trainer = pl.Trainer(**quiet(logger=False))
    return trainer.predict(model, loaders if multi else loaders[0], return_predictions=return_predictions)


@pytest.mark.parametrize("multi", [False, True])
def test_predict_outputs_match_lightning(multi: bool) -> None:
    expected = _predict(pl_lightning, multi, None)
    got = _predict(fastlit, multi, None)
    if not multi:
        expected, got = [expected], [got]
    assert [len(x) for x in got] == [len(x) for x in expected] == [2] * (1 + multi)
    for e_list, g_list in zip(expected, got):
        for e, g in zip(e_list, g_list):
            assert not g.requires_grad and g.shape == e.shape
            torch.testing.assert_close(g, e)
    assert _predict(fastlit, multi, False) is None


def test_predict_default_step_calls_forward() -> None:
    class M(fastlit.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.layer = torch.nn.Linear(8, 2)

        def forward(self, batch: Any) -> Any:
            return self.layer(batch)

    x = torch.randn(5, 8)
    out = fastlit.Trainer(**quiet(logger=False)).predict(M(), DataLoader(x, batch_size=2))
    assert [o.shape[0] for o in out] == [2, 2, 1]
