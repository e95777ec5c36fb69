"""The small utilities fastlit implements for Lightning's import surface behave like Lightning 2.6.6's (the same
call on both, results compared), or as documented where fastlit deliberately differs."""
from __future__ import annotations

import dataclasses
import operator
import pickle
import threading
import warnings
from argparse import Namespace

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, IterableDataset, TensorDataset

from fastlit.utilities import data as fl_data
from fastlit.utilities import enums as fl_enums
from fastlit.utilities import imports as fl_imports
from fastlit.utilities import memory as fl_memory
from fastlit.utilities import parsing as fl_parsing


@pytest.fixture
def pl_utils(lightning):
    import pytorch_lightning.utilities as u
    from pytorch_lightning.utilities import data, enums, imports, memory, parsing  # noqa: F401

    return u


# ------------------------------------------------------------------------------------------------ enums


def test_lightning_enum_compares_and_hashes_like_lightnings(pl_utils):
    from pytorch_lightning.utilities.enums import GradClipAlgorithmType as Theirs

    ours = fl_enums.GradClipAlgorithmType
    for a, b in ((ours.NORM, Theirs.NORM), (ours.VALUE, Theirs.VALUE)):
        assert (a == "NORM".lower(), a == "Norm", a == b.value) == (b == "norm", b == "Norm", b == a.value)
        assert hash(a) == hash("norm" if a is ours.NORM else "value") == hash(b)
    assert ours.supported_types() == Theirs.supported_types() == ["value", "norm"]
    assert ours.supported_type("norm") and not ours.supported_type("l2")
    assert ours.from_str("NORM") is ours.NORM and ours.from_str("value", source="value") is ours.VALUE
    with pytest.raises(ValueError, match="expected one of"):
        ours.from_str("l2", source="any")
    with pytest.warns(UserWarning, match="Invalid string"):
        assert ours.try_from_str("l2") is None


def test_trainer_enums_are_lightning_enums():
    from fastlit.trainer.states import RunningStage, TrainerFn

    assert issubclass(TrainerFn, fl_enums.LightningEnum) and issubclass(RunningStage, fl_enums.LightningEnum)
    assert TrainerFn.FITTING == "FIT" and str(TrainerFn.FITTING) == "fit"
    assert {TrainerFn.FITTING: 1}["fit"] == 1


# ---------------------------------------------------------------------------------------------- imports


@pytest.mark.parametrize("requirement,module", [
    ("torch>=1.0", None), ("torch>100.0", None), ("torch", None), ("fastlit_no_such_package", None),
    (None, "torch.utils"), (None, "fastlit_no_such.module"), ("torch>100.0", "torch"),
])
def test_requirement_cache_agrees_with_lightnings(pl_utils, requirement, module):
    from pytorch_lightning.utilities.imports import RequirementCache as Theirs

    ours, theirs = fl_imports.RequirementCache(requirement, module), Theirs(requirement, module)
    assert bool(ours) == bool(theirs)
    assert str(ours) == str(theirs)


def test_version_and_package_checks_agree_with_lightnings(pl_utils):
    from pytorch_lightning.utilities import imports as theirs

    for op, version in ((operator.ge, "1.0"), (operator.lt, "1.0"), (operator.ge, "99")):
        assert fl_imports.compare_version("torch", op, version) == theirs.compare_version("torch", op, version)
    assert fl_imports.compare_version("fastlit_no_such_package", operator.ge, "0") is False
    for name in ("torch", "os", "fastlit_no_such_package"):
        assert fl_imports.package_available(name) == theirs.package_available(name)
    assert fl_imports.module_available("torch.nn") and not fl_imports.module_available("torch.no_such")
    assert bool(fl_imports._TORCHVISION_AVAILABLE) == bool(theirs._TORCHVISION_AVAILABLE)


def test_requirement_cache_needs_an_argument():
    with pytest.raises(ValueError):
        fl_imports.RequirementCache()


# --------------------------------------------------------------------------------------------- warnings


def test_possible_user_warnings_can_be_muted_alone():
    from fastlit.utilities.warnings import PossibleUserWarning, disable_possible_user_warnings

    assert issubclass(PossibleUserWarning, UserWarning)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        disable_possible_user_warnings()
        warnings.warn("maybe", PossibleUserWarning)
        warnings.warn("surely", UserWarning)
    assert [str(w.message) for w in seen] == ["surely"]


def test_rank_prefixed_message_and_deprecation_category(pl_utils):
    from pytorch_lightning.utilities.rank_zero import rank_prefixed_message as theirs

    from fastlit.utilities.rank_zero import LightningDeprecationWarning, rank_prefixed_message, rank_zero_deprecation

    assert rank_prefixed_message("hi", 3) == theirs("hi", 3) == "[rank: 3] hi"
    assert rank_prefixed_message("hi", None) == theirs("hi", None) == "hi"
    with pytest.warns(LightningDeprecationWarning, match="old"):
        rank_zero_deprecation("old")
    assert issubclass(LightningDeprecationWarning, DeprecationWarning)


# ---------------------------------------------------------------------------------------------- parsing


def _frames(parsing):
    """Init args of a two-level hierarchy, read by ``parsing``'s functions from inside the innermost __init__."""
    seen = {}

    class Base:
        def __init__(self, a, b=2, *args, **kwargs):
            super().__init__()  # uses __class__: how both implementations find the defining class
            seen["collected"] = parsing.collect_init_args(__import__("inspect").currentframe(), [])
            seen["own"] = parsing.get_init_args(__import__("inspect").currentframe())

    class Child(Base):
        def __init__(self, x, y="why", **kw):
            super().__init__(x * 10, extra=y, **kw)

    Child(1, y="z", more=5)
    return seen, Base


def test_init_args_are_read_like_lightnings(pl_utils):
    from pytorch_lightning.utilities import parsing as theirs

    ours_seen, base = _frames(fl_parsing)
    theirs_seen, _ = _frames(theirs)
    assert ours_seen == theirs_seen
    assert ours_seen["own"] == {"a": 10, "b": 2, "extra": "z", "more": 5}
    assert ours_seen["collected"] == [{"a": 10, "b": 2, "extra": "z", "more": 5}, {"x": 1, "y": "z", "more": 5}]
    assert fl_parsing.parse_class_init_keys(base) == theirs.parse_class_init_keys(base) == ("self", "args", "kwargs")


def test_picklability_helpers_like_lightnings(pl_utils):
    from pytorch_lightning.utilities import parsing as theirs

    lock = threading.Lock()
    for obj in (1, "a", [1, 2], lock, lambda x: x):
        assert fl_parsing.is_picklable(obj) == theirs.is_picklable(obj)
    ours, ref = {"lr": 0.1, "lock": lock}, {"lr": 0.1, "lock": lock}
    with pytest.warns(UserWarning, match="cannot be pickled"):
        fl_parsing.clean_namespace(ours)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs.clean_namespace(ref)
    assert ours == ref == {"lr": 0.1}


def test_functional_save_hyperparameters():
    import fastlit

    class Module(fastlit.LightningModule):
        def __init__(self, lr=0.1, width=4, net=None):
            super().__init__()
            fl_parsing.save_hyperparameters(self, ignore="net")

    @dataclasses.dataclass
    class Config(fastlit.LightningModule):
        lr: float = 0.5

        def __post_init__(self):
            super().__init__()
            fl_parsing.save_hyperparameters(self)

    assert dict(Module(lr=0.2).hparams) == {"lr": 0.2, "width": 4}
    assert dict(Config().hparams) == {"lr": 0.5}


# ------------------------------------------------------------------------------------------------- data


@dataclasses.dataclass
class _Batch:
    x: torch.Tensor
    name: str


@pytest.mark.parametrize("batch", [
    torch.zeros(5, 3), torch.tensor(2.0), {"a": torch.zeros(4, 2), "b": "text"}, [torch.zeros(6), torch.zeros(6, 2)],
    _Batch(torch.zeros(7, 1), "n"), ("s", {"k": [torch.zeros(3)]}),
])
def test_extract_batch_size_like_lightnings(pl_utils, batch):
    from pytorch_lightning.utilities.data import extract_batch_size as theirs

    assert fl_data.extract_batch_size(batch) == theirs(batch)


def test_extract_batch_size_errors_and_warns_like_lightnings(pl_utils):
    from pytorch_lightning.utilities.data import extract_batch_size as theirs

    from fastlit.utilities.exceptions import MisconfigurationException

    for fn, error in ((fl_data.extract_batch_size, MisconfigurationException), (theirs, Exception)):
        with pytest.raises(error, match="could not infer the batch_size"):
            fn({"a": "no tensors"})
    with pytest.warns(UserWarning, match="ambiguous collection"):
        assert fl_data.extract_batch_size([torch.zeros(2), torch.zeros(3)]) == 2


def test_loader_length_helpers_like_lightnings(pl_utils):
    from pytorch_lightning.utilities import data as theirs

    class Stream(IterableDataset):
        def __iter__(self):
            return iter(range(3))

    sized, stream = DataLoader(TensorDataset(torch.zeros(10, 1)), batch_size=4), DataLoader(Stream())
    for loader in (sized, stream, [1, 2], object()):
        assert fl_data.sized_len(loader) == theirs.sized_len(loader)
        assert fl_data.has_iterable_dataset(loader) == theirs.has_iterable_dataset(loader)
    from fastlit.strategies import SingleDeviceStrategy

    assert fl_data.has_len_all_ranks(sized, SingleDeviceStrategy()) is True
    assert fl_data.has_len_all_ranks(stream, SingleDeviceStrategy()) is False
    assert fl_data.suggested_max_num_workers(1) == pl_utils.suggested_max_num_workers(1)
    with pytest.raises(ValueError):
        fl_data.suggested_max_num_workers(0)
    assert fl_data.is_dataclass_instance(_Batch(torch.zeros(1), "")) and not fl_data.is_dataclass_instance(_Batch)


# ----------------------------------------------------------------------------------------------- memory


@pytest.mark.parametrize("error", [
    RuntimeError("CUDA out of memory. Tried to allocate"), RuntimeError("cuDNN error: CUDNN_STATUS_NOT_SUPPORTED."),
    RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried"), RuntimeError("something else"),
    RuntimeError("CUDA out of memory", "two args"), ValueError("CUDA out of memory"),
])
def test_oom_detection_like_lightnings(pl_utils, error):
    from pytorch_lightning.utilities import memory as theirs

    for name in ("is_oom_error", "is_cuda_out_of_memory", "is_cudnn_snafu", "is_out_of_cpu_memory"):
        assert getattr(fl_memory, name)(error) == getattr(theirs, name)(error), name


def test_recursive_detach():
    w = torch.ones(2, requires_grad=True)
    out = fl_memory.recursive_detach({"a": w * 2, "b": [w + 1, "s"]}, to_cpu=True)
    assert not out["a"].requires_grad and not out["b"][0].requires_grad and out["b"][1] == "s"
    torch.testing.assert_close(out["a"], torch.full((2,), 2.0))


# ------------------------------------------------------------------------------------ tying, grads, apply


class _Tied(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.encoder = nn.Linear(3, 3)
        self.decoder = nn.Linear(3, 3)
        self.decoder.weight = self.encoder.weight
        self.head = nn.Sequential(nn.Linear(3, 3))
        self.head[0].bias = self.encoder.bias


def test_shared_parameters_like_lightnings(pl_utils):
    from fastlit.utilities import find_shared_parameters, set_shared_parameters

    model = _Tied()
    ours = find_shared_parameters(model)
    assert ours == pl_utils.find_shared_parameters(model)
    assert sorted(map(sorted, ours)) == [["decoder.weight", "encoder.weight"], ["encoder.bias", "head.0.bias"]]
    model.decoder.weight = nn.Parameter(model.decoder.weight.detach().clone())  # untie, as a device move can
    assert len(find_shared_parameters(model)) == 1
    set_shared_parameters(model, ours)
    assert model.decoder.weight is model.encoder.weight and model.head[0].bias is model.encoder.bias


@pytest.mark.parametrize("norm_type", [1, 2.0, "inf"])
def test_grad_norm_like_lightnings(pl_utils, norm_type):
    from fastlit.utilities import grad_norm

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 3), nn.Linear(3, 1))
    model[0].bias.requires_grad_(False)
    model(torch.randn(5, 4)).sum().backward()
    ours, theirs = grad_norm(model, norm_type), pl_utils.grad_norm(model, norm_type)
    assert ours.keys() == theirs.keys() and len(ours) == 4  # three parameters with gradients, and the total
    for k in ours:
        torch.testing.assert_close(ours[k], theirs[k])
    with pytest.raises(ValueError, match="positive"):
        grad_norm(model, 0)


def test_tensor_conversions_like_lightnings(lightning):
    from lightning_fabric.utilities.apply_func import convert_tensors_to_scalars, convert_to_tensors

    from fastlit.utilities import apply_func as ours

    data = {"a": 1, "b": [True, 2.5], "c": torch.tensor([1, 2])}
    got, ref = ours.convert_to_tensors(data, "cpu"), convert_to_tensors(data, "cpu")
    for g, r in ((got["a"], ref["a"]), (got["b"][0], ref["b"][0]), (got["b"][1], ref["b"][1]), (got["c"], ref["c"])):
        assert g.dtype == r.dtype and torch.equal(g, r)
    scalars = {"x": torch.tensor(3.0), "y": [torch.tensor([4])]}
    assert ours.convert_tensors_to_scalars(scalars) == convert_tensors_to_scalars(scalars) == {"x": 3.0, "y": [4]}
    with pytest.raises(ValueError, match="single element"):
        ours.convert_tensors_to_scalars(torch.zeros(2))


def test_measure_flops_like_lightnings(pl_utils):
    from fastlit.utilities import measure_flops

    model = nn.Linear(8, 4)
    x = torch.randn(2, 8)
    ours = measure_flops(model, lambda: model(x), lambda y: y.sum())
    assert ours == pl_utils.measure_flops(model, lambda: model(x), lambda y: y.sum()) > 0
    assert measure_flops(model, lambda: model(x)) == 2 * 2 * 8 * 4


def test_attribute_dict_pickles_and_namespace_args():
    from fastlit.utilities import AttributeDict

    d = AttributeDict(lr=1)
    assert pickle.loads(pickle.dumps(d)) == {"lr": 1} and vars(Namespace(**d)) == {"lr": 1}


def test_tuner_attribute_helpers_are_the_utilities_ones():
    from fastlit.tuner import _trial

    assert _trial.lightning_setattr is fl_parsing.lightning_setattr
    assert _trial.is_oom_error is fl_memory.is_oom_error
