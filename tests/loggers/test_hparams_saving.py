"""fastlit.core.saving: hparams.yaml / tags.csv writing and reading (plain-yaml path; see test_omegaconf_parity)."""

import enum
import threading
from argparse import Namespace

import pytest

from fastlit.core.saving import (
    load_hparams_from_tags_csv,
    load_hparams_from_yaml,
    save_hparams_to_tags_csv,
    save_hparams_to_yaml,
    update_hparams,
)
from fastlit.utilities import AttributeDict


class Color(enum.Enum):
    RED = 1


def test_yaml_round_trip(tmp_path):
    path = tmp_path / "hparams.yaml"
    hp = {"lr": 1e-3, "name": "ae", "dims": [784, 64, 3], "nested": {"a": None, "b": True}, "t": (1, 2)}
    save_hparams_to_yaml(path, hp, use_omegaconf=False)
    assert load_hparams_from_yaml(path, use_omegaconf=False) == hp  # tuples survive: full_load understands python/tuple
    # plain yaml, sorted keys, block style (Lightning's output without omegaconf)
    assert path.read_text().splitlines()[:4] == ["dims:", "- 784", "- 64", "- 3"]


def test_namespace_attributedict_and_enum(tmp_path):
    path = tmp_path / "h.yaml"
    save_hparams_to_yaml(path, Namespace(a=1, color=Color.RED), use_omegaconf=False)
    assert load_hparams_from_yaml(path, use_omegaconf=False) == {"a": 1, "color": "RED"}
    save_hparams_to_yaml(path, AttributeDict(b=2), use_omegaconf=False)
    assert path.read_text() == "b: 2\n"


def test_unserializable_value_is_skipped_with_warning(tmp_path):
    path = tmp_path / "h.yaml"
    with pytest.warns(UserWarning, match="Skipping 'lock'"):
        save_hparams_to_yaml(path, {"lock": threading.Lock(), "ok": 1}, use_omegaconf=False)
    assert load_hparams_from_yaml(path, use_omegaconf=False) == {"ok": 1}


def test_errors(tmp_path):
    with pytest.raises(RuntimeError, match="Missing folder"):
        save_hparams_to_yaml(tmp_path / "nope" / "h.yaml", {"a": 1})
    with pytest.raises(TypeError, match="hparams must be a dictionary"):
        save_hparams_to_yaml(tmp_path / "h.yaml", [1, 2], use_omegaconf=False)
    with pytest.warns(RuntimeWarning, match="Missing Tags"):
        assert load_hparams_from_yaml(tmp_path / "missing.yaml") == {}


def test_tags_csv_round_trip(tmp_path):
    path = tmp_path / "tags.csv"
    hp = Namespace(batch_size=32, learning_rate=0.001, data_root="./any/path/here")
    save_hparams_to_tags_csv(path, hp)
    assert path.read_text() == "key,value\nbatch_size,32\nlearning_rate,0.001\ndata_root,./any/path/here\n"
    assert load_hparams_from_tags_csv(path) == vars(hp)


def test_update_hparams():
    hp = {"c": 4, "a": {"b": 1, "keep": 0}}
    update_hparams(hp, {"a": {"b": 2}, "c": 1, "new": 5})
    assert hp == {"c": 1, "a": {"b": 2, "keep": 0}, "new": 5}
