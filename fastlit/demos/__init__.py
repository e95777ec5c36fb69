"""Demo models and data (``lightning.pytorch.demos``): the classes every Lightning bug report starts from."""
from fastlit.demos.boring_classes import BoringDataModule, BoringModel, DemoModel, RandomDataset
from fastlit.demos.lstm import LightningLSTM, SequenceSampler, SimpleLSTM
from fastlit.demos.transformer import LightningTransformer, Transformer, WikiText2

__all__ = ["BoringDataModule", "BoringModel", "DemoModel", "LightningLSTM", "LightningTransformer", "RandomDataset",
           "SequenceSampler", "SimpleLSTM", "Transformer", "WikiText2"]
