"""Strategies (``Trainer(strategy=...)``): single device and DDP are real; FSDP, DeepSpeed, model parallel and
XLA are placeholders that say what to use instead. ``StrategyRegistry`` lists the names ``strategy=`` accepts."""
from fastlit._placeholders import placeholder_class, reason
from fastlit.strategies.ddp import DDPStrategy
from fastlit.strategies.deepspeed import DeepSpeedStrategy
from fastlit.strategies.fsdp import FSDPStrategy
from fastlit.strategies.model_parallel import ModelParallelStrategy
from fastlit.strategies.parallel import ParallelStrategy
from fastlit.strategies.single_device import SingleDeviceStrategy, Strategy
from fastlit.strategies.single_xla import SingleDeviceXLAStrategy  # noqa: F401
from fastlit.strategies.xla import XLAStrategy  # noqa: F401  (exported by Lightning, not in its __all__)
from fastlit.utilities._registry import _StrategyRegistry

__all__ = ["DDPStrategy", "DeepSpeedStrategy", "FSDPStrategy", "ModelParallelStrategy", "ParallelStrategy",
           "SingleDeviceStrategy", "Strategy"]

# names Lightning 2.x keeps only to say they were removed
HPUParallelStrategy = placeholder_class(__name__, "HPUParallelStrategy", *reason("hpu"), bases=(DDPStrategy,))
SingleHPUStrategy = placeholder_class(__name__, "SingleHPUStrategy", *reason("hpu"), bases=(SingleDeviceStrategy,))
SingleTPUStrategy = placeholder_class(__name__, "SingleTPUStrategy", *reason("tpu"),
                                      bases=(SingleDeviceXLAStrategy,))

# The names Trainer(strategy=...) accepts, with what each means (fastlit.strategies.select builds them).
StrategyRegistry = _StrategyRegistry()
StrategyRegistry.register("single_device", SingleDeviceStrategy, description="One process on one device")
for _name, _kwargs in (("ddp", {}), ("ddp_spawn", {"start_method": "spawn"}), ("ddp_fork", {"start_method": "fork"}),
                       ("ddp_notebook", {"start_method": "fork"}),
                       ("ddp_find_unused_parameters_true", {"find_unused_parameters": True}),
                       ("ddp_find_unused_parameters_false", {"find_unused_parameters": False}),
                       ("ddp_spawn_find_unused_parameters_true",
                        {"start_method": "spawn", "find_unused_parameters": True})):
    StrategyRegistry.register(_name, DDPStrategy, description=f"DDP strategy {_kwargs or ''}".strip(), **_kwargs)
