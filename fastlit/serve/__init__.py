"""Serving: ``ServableModule`` (the interface, real) and ``ServableModuleValidator`` (a placeholder)."""
from fastlit.serve.servable_module import ServableModule
from fastlit.serve.servable_module_validator import ServableModuleValidator

__all__ = ["ServableModule", "ServableModuleValidator"]
