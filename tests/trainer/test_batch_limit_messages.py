"""Batch limits passed explicitly as 1 or 1.0 get Lightning 2.6.6's INFO line (an int and a float mean different
things: one batch vs all of them), and a limit that is neither in [0.0, 1.0] nor a whole number is refused as
Lightning refuses it (issue #14, cluster 5). Defaults (None) say nothing.

Each case builds a Trainer under fastlit and, when installed, ``pytorch_lightning`` and compares the INFO lines
about the limits; the fastlit lines are also checked against the text written out here.
"""
from __future__ import annotations

import logging

import pytest

import fastlit

try:
    import pytorch_lightning as _lightning
except ImportError:
    _lightning = None

FRAMEWORKS = [fastlit] + ([_lightning] if _lightning is not None else [])


class _Lines(logging.Handler):
    def __init__(self):
        super().__init__(logging.INFO)
        self.lines = []

    def emit(self, record):
        msg = record.getMessage()
        if "was configured so" in msg:
            self.lines.append(msg)


def _messages(pl, **kwargs):
    handler = _Lines()
    loggers = [logging.getLogger(n) for n in ("fastlit", "pytorch_lightning", "lightning_fabric")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.addHandler(handler)
        lg.setLevel(logging.INFO)
    try:
        pl.Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                   **kwargs)
    finally:
        for lg, level in zip(loggers, levels):
            lg.removeHandler(handler)
            lg.setLevel(level)
    return handler.lines


def _line(name, value, what):
    return f"`Trainer({name}={value})` was configured so {what}"


CASES = {
    "defaults": ({}, []),
    "train_1": ({"limit_train_batches": 1}, [_line("limit_train_batches", 1, "1 batch per epoch will be used.")]),
    "train_1.0": ({"limit_train_batches": 1.0},
                  [_line("limit_train_batches", 1.0, "100% of the batches per epoch will be used..")]),
    "all_int": ({"limit_train_batches": 1, "limit_val_batches": 1, "limit_test_batches": 1,
                 "limit_predict_batches": 1, "val_check_interval": 1},
                [_line("limit_train_batches", 1, "1 batch per epoch will be used."),
                 _line("limit_val_batches", 1, "1 batch will be used."),
                 _line("limit_test_batches", 1, "1 batch will be used."),
                 _line("limit_predict_batches", 1, "1 batch will be used."),
                 _line("val_check_interval", 1, "validation will run after every batch.")]),
    "all_float": ({"limit_val_batches": 1.0, "limit_test_batches": 1.0, "limit_predict_batches": 1.0,
                   "val_check_interval": 1.0},
                  [_line("limit_val_batches", 1.0, "100% of the batches will be used.."),
                   _line("limit_test_batches", 1.0, "100% of the batches will be used.."),
                   _line("limit_predict_batches", 1.0, "100% of the batches will be used.."),
                   _line("val_check_interval", 1.0, "validation will run at the end of the training epoch..")]),
    "other_values": ({"limit_train_batches": 3, "limit_val_batches": 0.5, "val_check_interval": 0.25}, []),
    # overfit_batches replaces the train/val limits: only its own line (and the test one) is said
    "overfit": ({"overfit_batches": 1, "limit_train_batches": 1, "limit_test_batches": 1.0},
                [_line("overfit_batches", 1, "1 batch will be used."),
                 _line("limit_test_batches", 1.0, "100% of the batches will be used..")]),
    # fast_dev_run sets every limit itself: nothing about them is said
    "fast_dev_run": ({"fast_dev_run": True, "limit_train_batches": 1}, []),
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("pl", FRAMEWORKS, ids=lambda m: m.__name__)
def test_batch_limit_info_lines(pl, case):
    kwargs, expected = CASES[case]
    assert _messages(pl, **kwargs) == expected


@pytest.mark.parametrize("name", ["limit_train_batches", "limit_test_batches", "overfit_batches",
                                  "val_check_interval"])
@pytest.mark.parametrize("value", [1.5, -1, -0.5])
@pytest.mark.parametrize("pl", FRAMEWORKS, ids=lambda m: m.__name__)
def test_invalid_batch_limit_raises(pl, name, value):
    with pytest.raises(pl.utilities.exceptions.MisconfigurationException,
                       match=rf"invalid value {value} for {name}, it has to be in \[0.0, 1.0\] or an int"):
        pl.Trainer(logger=False, **{name: value})
