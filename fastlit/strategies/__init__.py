"""Strategies (``Trainer(strategy=...)``)."""
from fastlit.strategies.single_device import SingleDeviceStrategy, Strategy

__all__ = ["SingleDeviceStrategy", "Strategy"]
