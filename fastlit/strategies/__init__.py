"""Strategies (``Trainer(strategy=...)``)."""
from fastlit.strategies.ddp import DDPStrategy
from fastlit.strategies.single_device import SingleDeviceStrategy, Strategy

__all__ = ["DDPStrategy", "SingleDeviceStrategy", "Strategy"]
