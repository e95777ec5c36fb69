"""Trainer argument checks with Lightning 2.6.6's exception types and messages (issue #14, cluster 7/18):
``gradient_clip_val`` must be a number (TypeError), ``gradient_clip_algorithm`` is case-insensitive and an unknown
one is refused, ``reload_dataloaders_every_n_epochs`` must be an int >= 0. Differential when Lightning is installed."""
from __future__ import annotations

import pytest

import fastlit

try:
    import pytorch_lightning as _lightning
except ImportError:
    _lightning = None

FRAMEWORKS = [fastlit] + ([_lightning] if _lightning is not None else [])
ids = lambda m: m.__name__  # noqa: E731


@pytest.mark.parametrize("value", [(1, 2), "1.0", [0.5]])
@pytest.mark.parametrize("pl", FRAMEWORKS, ids=ids)
def test_gradient_clip_val_type(pl, value):
    with pytest.raises(TypeError, match="`gradient_clip_val` should be an int or a float"):
        pl.Trainer(logger=False, gradient_clip_val=value)


@pytest.mark.parametrize("pl", FRAMEWORKS, ids=ids)
def test_gradient_clip_algorithm(pl):
    with pytest.raises(pl.utilities.exceptions.MisconfigurationException,
                       match=r"`gradient_clip_algorithm` norm2 is invalid"):
        pl.Trainer(logger=False, gradient_clip_algorithm="norm2")
    assert pl.Trainer(logger=False, gradient_clip_val=1, gradient_clip_algorithm="VALUE").gradient_clip_algorithm \
        == "value"


@pytest.mark.parametrize("n", ["test", -1, 1.5])
@pytest.mark.parametrize("pl", FRAMEWORKS, ids=ids)
def test_reload_dataloaders_every_n_epochs(pl, n):
    with pytest.raises(pl.utilities.exceptions.MisconfigurationException, match="should be an int >= 0"):
        pl.Trainer(logger=False, reload_dataloaders_every_n_epochs=n)
