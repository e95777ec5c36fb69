"""Checkpoint migration (``migrate_checkpoint``, ``pl_legacy_patch``)."""
from fastlit.utilities.migration.utils import migrate_checkpoint, pl_legacy_patch

__all__ = ["migrate_checkpoint", "pl_legacy_patch"]
