"""Demo models and data (``lightning.pytorch.demos``): the classes every Lightning bug report starts from."""
from fastlit.demos.boring_classes import BoringDataModule, BoringModel, DemoModel, RandomDataset

__all__ = ["BoringDataModule", "BoringModel", "DemoModel", "RandomDataset"]
