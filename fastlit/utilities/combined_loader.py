"""``CombinedLoader`` (several dataloaders iterated as one): not in fastlit yet."""
from fastlit._placeholders import placeholder_class
from fastlit.utilities.data import sized_len  # noqa: F401  (Lightning's module exports it)

CombinedLoader = placeholder_class(
    __name__, "CombinedLoader", "fastlit does not support iterating several training dataloaders as one yet",
    "Train on one DataLoader (e.g. over a torch.utils.data.ConcatDataset or a dataset that zips yours); for several "
    "validation/test/predict loaders return a list or dict of DataLoaders, which fastlit runs one after another.")
