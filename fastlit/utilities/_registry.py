"""Name -> class registries (``AcceleratorRegistry``, ``StrategyRegistry``), as Lightning's: a dict of
``{"description", "init_params", <kind>, <kind>_name}`` entries; ``get(name)`` builds an instance."""
from __future__ import annotations

from typing import Any, Callable, Optional

from fastlit.utilities.exceptions import MisconfigurationException


class _Registry(dict):
    _kind = "item"  # the key the class is stored under: "accelerator" or "strategy"

    def register(self, name: str, cls: Optional[Callable] = None, description: str = "", override: bool = False,
                 **init_params: Any) -> Callable:
        """Register ``cls`` under ``name`` (or, without ``cls``, return a class decorator that does).

        Raises:
            MisconfigurationException: ``name`` is taken and ``override`` is False.
        """
        if not isinstance(name, str):
            raise TypeError(f"`name` must be a str, found {name}")
        if name in self and not override:
            raise MisconfigurationException(f"'{name}' is already present in the registry. HINT: Use `override=True`.")

        def do_register(klass: Callable) -> Callable:
            self[name] = {"description": description, "init_params": init_params, self._kind: klass,
                          f"{self._kind}_name": name}
            return klass

        return do_register(cls) if cls is not None else do_register

    def get(self, name: str, default: Optional[Any] = None) -> Any:
        """A new instance of what ``name`` names, built with its registered ``init_params``."""
        if name in self:
            data = self[name]
            return data[self._kind](**data["init_params"])
        if default is not None:
            return default
        raise KeyError(f"'{name}' not found in registry. Available names: {self._available()}")

    def remove(self, name: str) -> None:
        self.pop(name)

    def _available(self) -> Any:
        return set(self.keys())


class _AcceleratorRegistry(_Registry):
    _kind = "accelerator"

    def register(self, name: str, accelerator: Optional[Callable] = None, description: str = "",
                 override: bool = False, **init_params: Any) -> Callable:
        return super().register(name, accelerator, description, override, **init_params)

    def available_accelerators(self) -> set[str]:
        return set(self.keys())

    def __str__(self) -> str:
        return "Registered Accelerators: {}".format(", ".join(self.available_accelerators()))


class _StrategyRegistry(_Registry):
    _kind = "strategy"

    def register(self, name: str, strategy: Optional[Callable] = None, description: str = "",
                 override: bool = False, **init_params: Any) -> Callable:
        return super().register(name, strategy, description, override, **init_params)

    def available_strategies(self) -> list[str]:
        return list(self.keys())

    def _available(self) -> Any:
        return self.available_strategies()

    def __str__(self) -> str:
        return "Registered Strategies: {}".format(", ".join(self.keys()))
