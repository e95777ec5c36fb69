"""A small transformer language model on WikiText-2 (Lightning's demo, same architecture, data and download).

``WikiText2`` downloads ``train.txt`` of PyTorch's word-language-model example into ``data_dir/wikitext-2.txt``
the first time (as Lightning's does); without network access it raises an error that says where to put the file.
"""
from __future__ import annotations

import math
import os
import urllib.request
from pathlib import Path
from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset

from fastlit.core.module import LightningModule
from fastlit.utilities.imports import RequirementCache  # noqa: F401  (Lightning's module exports it)

WIKITEXT2_URL = "https://raw.githubusercontent.com/pytorch/examples/main/word_language_model/data/wikitext-2/train.txt"

if hasattr(nn.MultiheadAttention, "_reset_parameters") and not hasattr(nn.MultiheadAttention, "reset_parameters"):
    # nn.Transformer's init calls reset_parameters on every submodule that has it (pytorch/pytorch#107909);
    # Lightning adds the alias too, so both build identically initialized models from one seed
    nn.MultiheadAttention.reset_parameters = nn.MultiheadAttention._reset_parameters  # type: ignore[attr-defined]


class Transformer(nn.Module):
    """Encoder-decoder transformer over token ids: embedding + positional encoding -> ``nn.Transformer`` ->
    linear -> log-probabilities, flattened to ``(batch * time, vocab_size)``."""

    def __init__(self, vocab_size: int = 33278, ninp: int = 200, nhead: int = 2, nhid: int = 200, nlayers: int = 2,
                 dropout: float = 0.2) -> None:
        super().__init__()
        # creation order fixes the order random weights are drawn in (kept as Lightning's for equal seeds)
        self.pos_encoder = PositionalEncoding(ninp, dropout)
        self.embedding = nn.Embedding(vocab_size, ninp)
        self.transformer = nn.Transformer(d_model=ninp, nhead=nhead, num_encoder_layers=nlayers,
                                          num_decoder_layers=nlayers, dim_feedforward=nhid, dropout=dropout,
                                          batch_first=True)
        self.decoder = nn.Linear(ninp, vocab_size)
        self.ninp = ninp
        self.vocab_size = vocab_size
        self.src_mask: Optional[Tensor] = None

    def generate_square_subsequent_mask(self, size: int) -> Tensor:
        """An additive causal mask: 0 on and below the diagonal, -inf above (no peeking at later tokens)."""
        upper = torch.triu(torch.ones(size, size), diagonal=1)
        return upper.float().masked_fill(upper == 1, float("-inf")).masked_fill(upper == 0, 0.0)

    def forward(self, inputs: Tensor, target: Tensor, mask: Optional[Tensor] = None) -> Tensor:
        t = inputs.shape[1]
        if self.src_mask is None or self.src_mask.size(0) != t:
            self.src_mask = self.generate_square_subsequent_mask(t).to(inputs.device)
        if mask is None:
            mask = self.generate_square_subsequent_mask(t).to(inputs.device)
        scale = math.sqrt(self.ninp)
        src = self.pos_encoder(self.embedding(inputs) * scale)
        tgt = self.pos_encoder(self.embedding(target) * scale)
        out = self.decoder(self.transformer(src, tgt, tgt_mask=mask))
        return F.log_softmax(out, dim=-1).view(-1, self.vocab_size)


class PositionalEncoding(nn.Module):
    """Sinusoidal positional encoding, built on first use on the input's device, then dropout."""

    def __init__(self, dim: int, dropout: float = 0.1, max_len: int = 5000) -> None:
        super().__init__()
        self.dropout = nn.Dropout(p=dropout)
        self.dim = dim
        self.max_len = max_len
        # neither a buffer nor a parameter: it is sliced per input length, and DDP wants every parameter used
        self.pe: Optional[Tensor] = None

    def forward(self, x: Tensor) -> Tensor:
        if self.pe is None:
            self.pe = self._init_pos_encoding(device=x.device)
        # As in Lightning's demo: the encoding of position `x.size(1)` is added to every position (not one
        # encoding per position); kept so the demo trains exactly as Lightning's.
        x = x + self.pe[:, x.size(1)]
        return self.dropout(x)

    def _init_pos_encoding(self, device: torch.device) -> Tensor:
        position = torch.arange(0, self.max_len, dtype=torch.float, device=device).unsqueeze(1)
        freq = torch.exp(torch.arange(0, self.dim, 2, device=device).float() * (-math.log(10000.0) / self.dim))
        pe = torch.zeros(self.max_len, self.dim, device=device)
        pe[:, 0::2] = torch.sin(position * freq)
        pe[:, 1::2] = torch.cos(position * freq)
        return pe.unsqueeze(0)


class WikiText2(Dataset):
    """WikiText-2's training text as ``(inputs, targets)`` blocks of ``block_size`` token ids (targets shifted by
    one token).

    Args:
        data_dir: where ``wikitext-2.txt`` is (downloaded there when missing and ``download``).
        block_size: tokens per sample.
        download: fetch the file if it is not there yet.
    """

    def __init__(self, data_dir: Path = Path("./data"), block_size: int = 35, download: bool = True) -> None:
        super().__init__()
        self.path = Path(data_dir) / "wikitext-2.txt"
        if download:
            self.download(self.path)
        self.data, self.dictionary = tokenize(self.path)
        self.block_size = block_size

    @property
    def vocab_size(self) -> int:
        return len(self.dictionary)

    def __len__(self) -> int:
        return len(self.data) // self.block_size - 1

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        start = index * self.block_size
        end = start + self.block_size
        return self.data[start:end], self.data[start + 1:end + 1]

    @staticmethod
    def download(destination: Path) -> None:
        """Fetch the text to ``destination`` unless it exists (written whole or not at all).

        Raises:
            RuntimeError: the download failed (e.g. no network); the message says where to put the file.
        """
        destination = Path(destination)
        if destination.exists():
            return
        os.makedirs(destination.parent, exist_ok=True)
        partial = destination.with_name(destination.name + ".part")
        try:
            with urllib.request.urlopen(WIKITEXT2_URL, timeout=60) as response:  # noqa: S310  (a fixed https URL)
                partial.write_bytes(response.read())
        except OSError as e:  # URLError, timeouts, DNS failures, disk errors
            partial.unlink(missing_ok=True)
            raise RuntimeError(f"Could not download WikiText-2 from {WIKITEXT2_URL} ({e}). Without network access, "
                               f"save that file as {destination} yourself, then run again.") from e
        os.replace(partial, destination)  # never leave a truncated file behind for the next run to trust


class Dictionary:
    """Word <-> id, in order of first appearance."""

    def __init__(self) -> None:
        self.word2idx: dict[str, int] = {}
        self.idx2word: list[str] = []

    def add_word(self, word: str) -> int:
        if word not in self.word2idx:
            self.word2idx[word] = len(self.idx2word)
            self.idx2word.append(word)
        return self.word2idx[word]

    def __len__(self) -> int:
        return len(self.idx2word)


def tokenize(path: Path) -> tuple[Tensor, Dictionary]:
    """The whitespace-separated words of a text file (with ``<eos>`` after each line) as int64 ids, and the
    dictionary that maps them."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path} does not exist (pass download=True to fetch it).")
    dictionary = Dictionary()
    ids: list[int] = []
    with open(path, encoding="utf8") as f:
        for line in f:
            ids.extend(dictionary.add_word(word) for word in line.split() + ["<eos>"])
    return torch.tensor(ids, dtype=torch.int64), dictionary


class LightningTransformer(LightningModule):
    """``Transformer`` trained with NLL loss and SGD(lr=0.1) on ``WikiText2``."""

    def __init__(self, vocab_size: int = 33278) -> None:
        super().__init__()
        self.model = Transformer(vocab_size=vocab_size)

    def forward(self, inputs: Tensor, target: Tensor) -> Tensor:
        return self.model(inputs, target)

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        inputs, target = batch
        return F.nll_loss(self(inputs, target), target.view(-1))

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.model.parameters(), lr=0.1)

    def prepare_data(self) -> None:
        WikiText2(download=True)

    def train_dataloader(self) -> DataLoader:
        return DataLoader(WikiText2())
