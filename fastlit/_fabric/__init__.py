"""The few ``lightning.fabric.utilities`` / ``lightning_fabric.utilities`` modules that libraries built on Lightning
import for their types and helpers, provided by fastlit while fastlit stands in for Lightning
(``fastlit._lightning_alias``): ``types``, ``seed``, ``cloud_io`` and ``rank_zero``. They hold Fabric's names for
the same things, built on fastlit's own utilities. The rest of Fabric (``Fabric``, its strategies, accelerators,
...) is not provided and fails loudly.

Only these module paths are mapped (``_lightning_alias.FABRIC_MODULES``); nothing here is imported by
``import fastlit``.
"""
