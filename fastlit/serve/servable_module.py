"""``ServableModule``: the interface a model implements to be served (payload, (de)serialization, step)."""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Callable

import torch
from torch import Tensor


class ServableModule(ABC, torch.nn.Module):
    """Mix into a LightningModule to describe how it is served::

        class ServableBoringModel(BoringModel, ServableModule):
            def configure_payload(self):            # an example request
                return {"body": {"x": list(range(32))}}
            def configure_serialization(self):     # request field -> tensor, output name -> JSON value
                return {"x": lambda x: torch.tensor(x, dtype=torch.float)}, {"output": lambda t: t.tolist()}
            def serve_step(self, x):               # the prediction
                return {"output": self(x)}
            def configure_response(self):          # what that example request should answer
                return {"output": [...]}
    """

    @abstractmethod
    def configure_payload(self) -> dict[str, Any]:
        """An example request payload."""

    @abstractmethod
    def configure_serialization(self) -> tuple[dict[str, Callable], dict[str, Callable]]:
        """Two dicts: ``serve_step`` argument name -> function turning the payload field into a tensor, and
        output name -> function turning the tensor into a response value."""

    @abstractmethod
    def serve_step(self, *args: Tensor, **kwargs: Tensor) -> dict[str, Tensor]:
        """The predictions for the deserialized inputs, by output name."""

    @abstractmethod
    def configure_response(self) -> dict[str, Any]:
        """The response the example payload should produce."""
