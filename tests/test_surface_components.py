"""The real pieces behind Lightning's import surface: accelerators and registries, ``ParallelStrategy``, the
distributed samplers, ``TorchSyncBatchNorm``, cluster environments, ``cli`` helpers, ``serve``, ``compile``,
checkpoint migration -- compared with Lightning 2.6.6 where the same call can run on both."""
from __future__ import annotations

import os

import pytest
import torch
from torch import nn

import fastlit
from fastlit._placeholders import NotSupportedError, is_placeholder

# ------------------------------------------------------------------------------------------ accelerators


def test_accelerators_answer_like_lightnings(lightning):
    from pytorch_lightning import accelerators as theirs

    from fastlit import accelerators as ours

    for name in ("CPUAccelerator", "CUDAAccelerator", "MPSAccelerator"):
        a, b = getattr(ours, name), getattr(theirs, name)
        assert (a.name(), a.is_available(), a.auto_device_count()) == (b.name(), b.is_available(),
                                                                       b.auto_device_count()), name
    assert ours.CPUAccelerator.parse_devices("3") == theirs.CPUAccelerator.parse_devices("3") == 3
    assert ours.CPUAccelerator.get_parallel_devices(2) == theirs.CPUAccelerator.get_parallel_devices(2)
    for bad in (0, "x"):
        with pytest.raises(TypeError):
            ours.CPUAccelerator.parse_devices(bad)
    assert ours.CUDAAccelerator.parse_devices(0) is None
    assert ours.XLAAccelerator.is_available() is False
    with pytest.raises(NotSupportedError, match="TPU"):
        ours.XLAAccelerator()


def test_accelerator_registry_and_trainer_accept_accelerator_objects():
    from fastlit.accelerators import AcceleratorRegistry, CPUAccelerator, MPSAccelerator

    assert {"cpu", "cuda", "mps"} <= AcceleratorRegistry.available_accelerators()
    assert isinstance(AcceleratorRegistry.get("cpu"), CPUAccelerator)
    with pytest.raises(Exception, match="already present"):
        AcceleratorRegistry.register("cpu", CPUAccelerator)
    with pytest.raises(KeyError, match="not found in registry"):
        AcceleratorRegistry.get("nope")
    assert fastlit.Trainer(accelerator=CPUAccelerator(), logger=False).accelerator == "cpu"
    with pytest.raises(Exception, match="not supported by fastlit"):
        fastlit.Trainer(accelerator=MPSAccelerator(), logger=False)


def test_find_usable_cuda_devices_without_gpus():
    from fastlit.accelerators import find_usable_cuda_devices

    assert find_usable_cuda_devices(0) == []
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no visible CUDA devices"):
            find_usable_cuda_devices(1)


# -------------------------------------------------------------------------------------------- strategies


def test_ddp_is_a_parallel_strategy_and_the_registry_builds_strategies():
    from fastlit.strategies import DDPStrategy, ParallelStrategy, SingleDeviceStrategy, StrategyRegistry

    assert issubclass(DDPStrategy, ParallelStrategy)
    ddp = StrategyRegistry.get("ddp_find_unused_parameters_true")
    assert isinstance(ddp, ParallelStrategy) and ddp._ddp_kwargs == {"find_unused_parameters": True}
    assert ddp.distributed_sampler_kwargs == {"num_replicas": 1, "rank": 0}
    StrategyRegistry.register("my_single", SingleDeviceStrategy, description="test", device="cpu")
    try:
        trainer = fastlit.Trainer(strategy="my_single", logger=False)
        assert type(trainer.strategy) is SingleDeviceStrategy
        assert not isinstance(trainer.strategy, ParallelStrategy)
    finally:
        StrategyRegistry.remove("my_single")


# ------------------------------------------------------------------------------------- samplers, plugins


@pytest.mark.parametrize("shuffle", [False, True])
def test_distributed_samplers_shard_like_lightnings(lightning, shuffle):
    from pytorch_lightning.overrides import distributed as theirs
    from torch.utils.data import RandomSampler

    from fastlit.overrides import distributed as ours

    data = list(range(10))
    for rank in range(3):
        a = ours.UnrepeatedDistributedSampler(data, num_replicas=3, rank=rank, shuffle=shuffle)
        b = theirs.UnrepeatedDistributedSampler(data, num_replicas=3, rank=rank, shuffle=shuffle)
        assert list(a) == list(b) and len(a) == len(b)
        torch.manual_seed(rank)
        inner = RandomSampler(data, generator=torch.Generator().manual_seed(1))
        got = list(ours.UnrepeatedDistributedSamplerWrapper(inner, num_replicas=3, rank=rank, shuffle=False))
        inner = RandomSampler(data, generator=torch.Generator().manual_seed(1))
        ref = list(theirs.UnrepeatedDistributedSamplerWrapper(inner, num_replicas=3, rank=rank, shuffle=False))
        assert got == ref
    # every sample exactly once over the ranks, no padding
    shards = [list(ours.UnrepeatedDistributedSampler(data, num_replicas=3, rank=r, shuffle=shuffle)) for r in range(3)]
    assert sorted(i for s in shards for i in s) == data


def test_sync_batchnorm_plugin_round_trip():
    from fastlit.plugins import TorchSyncBatchNorm

    model = nn.Sequential(nn.Conv2d(1, 2, 1), nn.BatchNorm2d(2), nn.Sequential(nn.BatchNorm1d(2)))
    synced = TorchSyncBatchNorm().apply(model)
    assert sum(isinstance(m, nn.SyncBatchNorm) for m in synced.modules()) == 2
    weight = synced[1].weight
    back = TorchSyncBatchNorm().revert(synced)
    assert not any(isinstance(m, nn.SyncBatchNorm) for m in back.modules())
    assert back[1].weight is weight
    back.eval()
    back(torch.randn(3, 1, 4, 4))  # the reverted layer accepts 4-d input again


def test_environments_read_the_launcher_variables_like_lightnings(lightning, monkeypatch):
    from lightning_fabric.plugins import environments as theirs

    from fastlit.plugins import environments as ours

    for key, value in {"MASTER_ADDR": "10.0.0.1", "MASTER_PORT": "1234", "LOCAL_RANK": "1", "NODE_RANK": "2",
                       "RANK": "5", "WORLD_SIZE": "8", "GROUP_RANK": "2"}.items():
        monkeypatch.setenv(key, value)
    for name in ("LightningEnvironment", "TorchElasticEnvironment"):
        a, b = getattr(ours, name)(), getattr(theirs, name)()
        assert (a.creates_processes_externally, a.main_address, a.main_port, a.local_rank(), a.node_rank()) == \
               (b.creates_processes_externally, b.main_address, b.main_port, b.local_rank(), b.node_rank()), name
    assert ours.TorchElasticEnvironment().world_size() == 8 and ours.TorchElasticEnvironment().global_rank() == 5
    with pytest.raises(ValueError, match="does not match the world size"):
        ours.TorchElasticEnvironment().validate_settings(num_devices=2, num_nodes=2)
    assert ours.SLURMEnvironment.detect() is False
    with pytest.raises(NotSupportedError, match="torchrun"):
        ours.SLURMEnvironment()


def test_precision_plugins_point_to_the_trainer_argument():
    from fastlit.plugins.precision import MixedPrecision, Precision

    with pytest.raises(NotSupportedError, match="Trainer\\(precision="):
        MixedPrecision("16-mixed", "cuda")
    assert issubclass(MixedPrecision, Precision)


# ------------------------------------------------------------------------------------ cli, serve, compile


def test_cli_helpers(lightning):
    from pytorch_lightning.cli import instantiate_class as theirs

    from fastlit.cli import LightningCLI, ReduceLROnPlateau, instantiate_class

    params = [nn.Parameter(torch.zeros(2))]
    init = {"class_path": "torch.optim.SGD", "init_args": {"lr": 0.3, "momentum": 0.5}}
    ours, ref = instantiate_class(params, init), theirs(params, init)
    assert type(ours) is type(ref) and ours.defaults == ref.defaults
    sched = ReduceLROnPlateau(ours, monitor="val_loss", patience=2)
    assert sched.monitor == "val_loss" and sched.patience == 2
    assert isinstance(sched, torch.optim.lr_scheduler.ReduceLROnPlateau)
    assert not is_placeholder(LightningCLI)  # the real CLI: tests/cli/


def test_cli_module_is_not_the_bench_command_any_more():
    import fastlit._cli
    import fastlit.cli

    assert not hasattr(fastlit.cli, "add_arguments") and callable(fastlit._cli.main)


def test_servable_module_is_an_abstract_interface():
    from fastlit.demos import BoringModel
    from fastlit.serve import ServableModule, ServableModuleValidator

    class Incomplete(BoringModel, ServableModule):
        def configure_payload(self):
            return {"body": {"x": [0.0] * 32}}

    with pytest.raises(TypeError, match="abstract"):
        Incomplete()

    class Servable(Incomplete):
        def configure_serialization(self):
            return {"x": lambda x: torch.tensor(x)}, {"output": lambda t: t.tolist()}

        def serve_step(self, x):
            return {"output": self(x)}

        def configure_response(self):
            return {}

    model = Servable()
    deserialize, serialize = model.configure_serialization()
    out = model.serve_step(deserialize["x"](model.configure_payload()["body"]["x"]))
    assert len(serialize["output"](out["output"])) == 2
    with pytest.raises(NotSupportedError, match="serve_step"):
        ServableModuleValidator()


def test_from_compiled_and_back():
    from fastlit.demos import BoringModel
    from fastlit.utilities.compile import from_compiled, to_uncompiled

    model = BoringModel()
    original_forward = model.forward
    compiled = torch.compile(model)  # nothing compiles until called; these helpers never call it
    module = from_compiled(compiled)
    assert module is model and module._compiler_ctx["compiler"] == "dynamo"
    assert module.forward != original_forward and "training_step" in vars(module)
    assert to_uncompiled(module) is model and model.forward == original_forward and model._compiler_ctx is None
    assert "training_step" not in vars(model) or model.training_step == BoringModel.training_step.__get__(model)
    with pytest.raises(ValueError, match="OptimizedModule"):
        from_compiled(model)
    with pytest.raises(ValueError, match="non-compiled"):
        to_uncompiled(model)


# --------------------------------------------------------------------------------- checkpoints, misc


def test_migrate_checkpoint_accepts_2x_and_refuses_1x():
    from fastlit.utilities.migration import migrate_checkpoint, pl_legacy_patch

    ckpt, applied = migrate_checkpoint({"pytorch-lightning_version": "2.1.0", "state_dict": {}})
    assert applied == {} and ckpt["pytorch-lightning_version"] == "2.6.6"
    assert ckpt["legacy_pytorch-lightning_version"] == "2.1.0"
    with pytest.raises(NotSupportedError, match="upgrade_checkpoint"):
        migrate_checkpoint({"pytorch-lightning_version": "1.9.5"})
    with pl_legacy_patch():
        pass


def test_pl_load_reads_fastlit_checkpoints(tmp_path):
    from fastlit.core.saving import pl_load

    path = tmp_path / "x.ckpt"
    torch.save({"state_dict": {"w": torch.ones(2)}}, path)
    assert torch.equal(pl_load(str(path))["state_dict"]["w"], torch.ones(2))
    with pytest.raises(FileNotFoundError, match="not found"):
        pl_load(str(tmp_path / "missing.ckpt"))


def test_check_finite_loss_and_shared_filesystem_on_one_process(tmp_path):
    from fastlit.loops.utilities import check_finite_loss
    from fastlit.strategies import SingleDeviceStrategy
    from fastlit.utilities import is_shared_filesystem

    check_finite_loss(torch.tensor(1.0))
    check_finite_loss(None)
    with pytest.raises(ValueError, match="nan"):
        check_finite_loss(torch.tensor(float("nan")))
    assert is_shared_filesystem(SingleDeviceStrategy(), tmp_path)


def test_logo_and_top_level_helpers(capsys):
    fastlit.cli_lightning_logo()
    out = capsys.readouterr().out
    assert fastlit.LIGHTNING_LOGO.strip() in out and out.startswith("\n")
    assert fastlit.module_available("torch") and not fastlit.module_available("fastlit_no_such_module")


def test_get_filesystem_is_local_for_paths(tmp_path):
    pytest.importorskip("fsspec")
    from fastlit.utilities.cloud_io import get_filesystem

    fs = get_filesystem(str(tmp_path))
    assert fs.exists(os.fspath(tmp_path))
