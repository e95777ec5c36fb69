"""save_hyperparameters called more than once, with ignore, with an empty container or an object: the same
``hparams``, ``hparams_initial`` and ``_hparams_name`` as Lightning 2.6.6 (libraries such as pytorch-forecasting
call it in a base class and again in the subclass)."""
from argparse import Namespace

import pytest

import fastlit

pl = pytest.importorskip("pytorch_lightning")


def _classes(mod):
    class Base(mod.LightningModule):
        def __init__(self, a=1, b=2, **kwargs):
            super().__init__()
            self.save_hyperparameters()

    class Child(Base):  # saves again after the base did: keys are added/overridden, not replaced
        def __init__(self, c=3, a=10, **kwargs):
            super().__init__(a=a, **kwargs)
            self.save_hyperparameters()

    class Drop(Base):  # drops what the base class saved
        def __init__(self, a=1, b=5):
            super().__init__(a=a, b=b)
            self.save_hyperparameters(ignore=["b"])

    class Named(mod.LightningModule):  # names, then a dict on top
        def __init__(self, x=1, y=2):
            super().__init__()
            self.save_hyperparameters("x")
            self.save_hyperparameters({"z": 9, "x": 7})

    class Empty(mod.LightningModule):  # an empty container changes nothing
        def __init__(self, x=1):
            super().__init__()
            self.save_hyperparameters()
            self.save_hyperparameters({})

    class Obj(mod.LightningModule):  # one object that is an init argument: its name is kept
        def __init__(self, conf, other=4):
            super().__init__()
            self.save_hyperparameters(conf)

    class Nested(Base):  # the subclass passes a dict after the base saved its arguments
        def __init__(self, a=1):
            super().__init__(a=a)
            self.save_hyperparameters(Namespace(q=1))

    return {"base": lambda: Base(), "child": lambda: Child(b=4), "drop": lambda: Drop(),
            "named": lambda: Named(), "empty": lambda: Empty(), "obj": lambda: Obj({"lr": 0.1}),
            "nested": lambda: Nested()}


@pytest.mark.parametrize("case", ["base", "child", "drop", "named", "empty", "obj", "nested"])
def test_repeated_save_hyperparameters_matches_lightning(case):
    ours = _classes(fastlit)[case]()
    theirs = _classes(pl)[case]()
    assert dict(ours.hparams) == dict(theirs.hparams)
    assert list(ours.hparams) == list(theirs.hparams)  # same key order (logged and saved in it)
    assert dict(ours.hparams_initial) == dict(theirs.hparams_initial)
    assert getattr(ours, "_hparams_name", None) == getattr(theirs, "_hparams_name", None)


def test_child_values():
    m = _classes(fastlit)["child"]()
    assert dict(m.hparams) == {"a": 10, "b": 4, "c": 3}
