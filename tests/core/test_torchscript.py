"""``LightningModule.to_torchscript`` works on a module with no Trainer, as in
Lightning 2.6.6 (issue #14, cluster 17): script and trace give the module's outputs, the training mode is kept,
``file_path`` saves a loadable file, a bad method or a trace without inputs raises ValueError; it warns that it is
deprecated (LightningDeprecationWarning), as Lightning does."""
from __future__ import annotations

import pytest
import torch

import fastlit

try:
    import pytorch_lightning as _lightning
except ImportError:
    _lightning = None

FRAMEWORKS = [fastlit] + ([_lightning] if _lightning is not None else [])


def _model(pl):
    class Model(pl.LightningModule):
        def __init__(self):
            super().__init__()
            torch.manual_seed(0)
            self.layer = torch.nn.Linear(4, 3)
            self.example_input_array = torch.randn(2, 4)

        def forward(self, x):
            return self.layer(x).relu()

    return Model()


@pytest.mark.parametrize("method", ["script", "trace"])
@pytest.mark.parametrize("pl", FRAMEWORKS, ids=lambda m: m.__name__)
def test_to_torchscript(pl, method, tmp_path):
    model = _model(pl)
    model.train()
    path = tmp_path / "m.pt"
    with pytest.deprecated_call(match="`LightningModule.to_torchscript` has been deprecated"):
        scripted = model.to_torchscript(file_path=path, method=method)
    assert model.training  # mode kept
    x = torch.randn(5, 4)
    torch.testing.assert_close(scripted(x), model(x))
    loaded = torch.jit.load(path)
    torch.testing.assert_close(loaded(x), model(x))


@pytest.mark.parametrize("pl", FRAMEWORKS, ids=lambda m: m.__name__)
def test_trainer_error_back_after_scripting(pl):
    model = _model(pl)
    model.to_torchscript()
    with pytest.raises(RuntimeError, match="not attached to a `Trainer`"):
        model.trainer  # noqa: B018  (only while scripting is `trainer` None without an error)


@pytest.mark.parametrize("pl", FRAMEWORKS, ids=lambda m: m.__name__)
def test_errors(pl):
    model = _model(pl)
    with pytest.raises(ValueError, match="only supports 'script' or 'trace'"):
        model.to_torchscript(method="onnx")
    model.example_input_array = None
    with pytest.raises(ValueError, match="requires either `example_inputs`"):
        model.to_torchscript(method="trace")
