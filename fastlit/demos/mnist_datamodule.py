"""MNIST for demos: ``MNIST(...)`` is torchvision's dataset when torchvision is installed, else a small
replacement reading the preprocessed tensors Lightning hosts; ``MNISTDataModule`` splits it 55k/5k/10k.

Both download on first use, like Lightning's; offline they raise an error that says so.
"""
from __future__ import annotations

import logging
import os
import random
import sys
import time
import urllib.error
import urllib.request
import warnings
from collections.abc import Sized
from typing import Any, Callable, Optional, Union

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, random_split

from fastlit.core.datamodule import LightningDataModule
from fastlit.utilities.imports import _TORCHVISION_AVAILABLE

_DATASETS_PATH = "./data"
log = logging.getLogger(__name__)


class _MNIST(Dataset):
    """MNIST from Lightning's hosted ``training.pt`` / ``test.pt`` (uint8 images, int labels): items are
    ``(1x28x28 float image, label)``, normalized with ``normalize=(mean, std)`` unless it is None."""

    RESOURCES = (
        "https://pl-public-data.s3.amazonaws.com/MNIST/processed/training.pt",
        "https://pl-public-data.s3.amazonaws.com/MNIST/processed/test.pt",
    )
    TRAIN_FILE_NAME = "training.pt"
    TEST_FILE_NAME = "test.pt"
    cache_folder_name = "complete"

    def __init__(self, root: str, train: bool = True, normalize: Optional[tuple] = (0.1307, 0.3081),
                 download: bool = True, **kwargs: Any) -> None:
        super().__init__()
        self.root = root
        self.train = train
        self.normalize = normalize
        self.prepare_data(download)
        name = self.TRAIN_FILE_NAME if train else self.TEST_FILE_NAME
        self.data, self.targets = self._try_load(os.path.join(self.cached_folder_path, name))

    def __getitem__(self, idx: int) -> tuple[Tensor, int]:
        img = self.data[idx].float().unsqueeze(0)
        if self.normalize is not None and len(self.normalize) == 2:
            img = self.normalize_tensor(img, *self.normalize)
        return img, int(self.targets[idx])

    def __len__(self) -> int:
        return len(self.data)

    @property
    def cached_folder_path(self) -> str:
        return os.path.join(self.root, "MNIST", self.cache_folder_name)

    def _check_exists(self, data_folder: str) -> bool:
        return all(os.path.isfile(os.path.join(data_folder, f)) for f in (self.TRAIN_FILE_NAME, self.TEST_FILE_NAME))

    def prepare_data(self, download: bool = True) -> None:
        if download and not self._check_exists(self.cached_folder_path):
            self._download(self.cached_folder_path)
        if not self._check_exists(self.cached_folder_path):
            raise RuntimeError(f"Dataset not found in {self.cached_folder_path} (pass download=True to fetch it).")

    def _download(self, data_folder: str) -> None:
        os.makedirs(data_folder, exist_ok=True)
        for url in self.RESOURCES:
            log.info(f"Downloading {url}")
            path = os.path.join(data_folder, os.path.basename(url))
            try:
                urllib.request.urlretrieve(url, path + ".part")  # noqa: S310  (fixed https URLs)
            except OSError as e:
                raise RuntimeError(f"Could not download MNIST from {url} ({e}). Without network access, put "
                                   f"{self.TRAIN_FILE_NAME} and {self.TEST_FILE_NAME} in {data_folder} yourself."
                                   ) from e
            os.replace(path + ".part", path)  # whole files only: a failed download leaves nothing to trust

    @staticmethod
    def _try_load(path_data: str, trials: int = 30, delta: float = 1.0) -> tuple[Tensor, Tensor]:
        """Load, retrying for a while: another process may be writing the file right now."""
        if not os.path.isfile(path_data):
            raise FileNotFoundError(f"missing file: {path_data}")
        error: Optional[Exception] = None
        for _ in range(max(1, trials)):
            try:
                return torch.load(path_data, weights_only=True)
            except Exception as e:  # a half-written file from a concurrent download: wait and retry
                error = e
                time.sleep(delta * random.random())
        assert error is not None
        raise error

    @staticmethod
    def normalize_tensor(tensor: Tensor, mean: Union[int, float] = 0.0, std: Union[int, float] = 1.0) -> Tensor:
        mean = torch.as_tensor(mean, dtype=tensor.dtype, device=tensor.device)
        std = torch.as_tensor(std, dtype=tensor.dtype, device=tensor.device)
        return tensor.sub(mean).div(std)


def MNIST(*args: Any, **kwargs: Any) -> Dataset:  # noqa: N802  (Lightning's name: it stands in for a class)
    """torchvision's ``MNIST(*args, **kwargs)`` when torchvision is installed and can download, else ``_MNIST``
    (also when ``PL_USE_MOCKED_MNIST`` is set)."""
    use_torchvision = _TORCHVISION_AVAILABLE and not os.getenv("PL_USE_MOCKED_MNIST")
    if use_torchvision:
        from torchvision.datasets import MNIST as TorchvisionMNIST

        try:
            TorchvisionMNIST(_DATASETS_PATH, download=True)  # probe (Lightning's): fails here when offline
        except (urllib.error.URLError, OSError, RuntimeError) as e:
            print(f"Error {e} downloading `torchvision.datasets.MNIST`")
            use_torchvision = False
        else:
            return TorchvisionMNIST(*args, **kwargs)
    print("`torchvision.datasets.MNIST` not available. Using our hosted version")
    return _MNIST(*args, **kwargs)


class MNISTDataModule(LightningDataModule):
    """MNIST: 55,000 training / 5,000 validation images (a fixed split of the training set) and the 10,000 test
    images.

    Args:
        data_dir: where the data is downloaded and read.
        val_split: how many training images go to validation.
        num_workers: DataLoader workers (0 on Windows).
        normalize: normalize to mean 0.5 / std 0.5 (with torchvision's transforms).
        seed: kept for Lightning's signature (the split always uses seed 42, as Lightning's does).
        batch_size: per batch.
    """

    name = "mnist"

    def __init__(self, data_dir: str = _DATASETS_PATH, val_split: int = 5000, num_workers: int = 16,
                 normalize: bool = False, seed: int = 42, batch_size: int = 32) -> None:
        super().__init__()
        if num_workers and sys.platform == "win32":
            warnings.warn(f"You have requested num_workers={num_workers} on Windows, but currently recommended is 0, "
                          "so we set it for you", stacklevel=2)
            num_workers = 0
        self.data_dir = data_dir
        self.val_split = val_split
        self.num_workers = num_workers
        self.normalize = normalize
        self.seed = seed
        self.batch_size = batch_size

    @property
    def num_classes(self) -> int:
        return 10

    def prepare_data(self) -> None:
        MNIST(self.data_dir, train=True, download=True)
        MNIST(self.data_dir, train=False, download=True)

    def _dataset(self, train: bool) -> Dataset:
        extra = {"transform": self.default_transforms} if self.default_transforms else {}
        return MNIST(self.data_dir, train=train, download=False, **extra)

    def setup(self, stage: str) -> None:
        dataset = self._dataset(train=True)
        assert isinstance(dataset, Sized)
        self.dataset_train, self.dataset_val = random_split(
            dataset, [len(dataset) - self.val_split, self.val_split], generator=torch.Generator().manual_seed(42))

    def _loader(self, dataset: Dataset, shuffle: bool) -> DataLoader:
        return DataLoader(dataset, batch_size=self.batch_size, shuffle=shuffle, num_workers=self.num_workers,
                          drop_last=True, pin_memory=True)

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.dataset_train, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.dataset_val, shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self._dataset(train=False), shuffle=False)

    @property
    def default_transforms(self) -> Optional[Callable]:
        if not _TORCHVISION_AVAILABLE:
            return None
        from torchvision import transforms

        if self.normalize:
            return transforms.Compose([transforms.ToTensor(), transforms.Normalize(mean=(0.5,), std=(0.5,))])
        return transforms.ToTensor()
