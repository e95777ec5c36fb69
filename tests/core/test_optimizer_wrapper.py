"""``LightningOptimizer`` (what ``self.optimizers()`` returns) prints and assigns like Lightning's (issue #14,
cluster 16): ``str()`` is "Lightning" + the optimizer's; ``state``, ``param_groups`` and ``defaults`` read through
to the optimizer and can be assigned on the wrapper.
"""
from __future__ import annotations

import pytest
import torch

import fastlit
from fastlit.core.optimizer import LightningOptimizer

try:
    import pytorch_lightning as _lightning
    from pytorch_lightning.core.optimizer import LightningOptimizer as _PLOptimizer
except ImportError:
    _lightning = None

WRAPPERS = [LightningOptimizer] + ([_PLOptimizer] if _lightning is not None else [])


@pytest.mark.parametrize("wrap", WRAPPERS, ids=lambda c: c.__module__.split(".")[0])
@pytest.mark.parametrize("opt_cls", [torch.optim.SGD, torch.optim.Adam])
def test_str_is_lightning_plus_optimizer(wrap, opt_cls):
    opt = opt_cls(torch.nn.Linear(3, 2).parameters(), lr=0.1)
    lo = wrap(opt)
    assert str(lo) == "Lightning" + str(opt)
    assert str(lo).startswith("Lightning" + opt_cls.__name__ + " (")
    assert isinstance(lo, opt_cls)


@pytest.mark.parametrize("wrap", WRAPPERS, ids=lambda c: c.__module__.split(".")[0])
def test_state_param_groups_defaults_settable(wrap):
    opt = torch.optim.Adam(torch.nn.Linear(3, 2).parameters(), lr=0.1)
    lo = wrap(opt)
    assert lo.state is opt.state and lo.param_groups is opt.param_groups and lo.defaults is opt.defaults
    opt.param_groups[0]["lr"] = 1.0  # reads go to the live optimizer
    assert lo.param_groups[0]["lr"] == 1.0
    for name in ("state", "param_groups", "defaults"):
        value = getattr(opt, name)
        setattr(lo, name, value)
        assert getattr(lo, name) is value
    new_groups = [dict(opt.param_groups[0])]
    lo.param_groups = new_groups  # the wrapper's own attribute, as in Lightning
    assert lo.param_groups is new_groups
    assert opt.param_groups is not new_groups


def test_str_after_fit(tmp_path):
    class M(fastlit.LightningModule):
        def __init__(self):
            super().__init__()
            self.layer = torch.nn.Linear(2, 1)

        def training_step(self, batch, batch_idx):
            return self.layer(batch[0]).sum()

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)

    data = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.randn(4, 2)), batch_size=2)
    model = M()
    fastlit.Trainer(default_root_dir=tmp_path, max_steps=1, logger=False, enable_checkpointing=False,
                    enable_progress_bar=False, enable_model_summary=False).fit(model, data)
    lo = model.optimizers()
    assert str(lo) == "Lightning" + str(lo.optimizer)
