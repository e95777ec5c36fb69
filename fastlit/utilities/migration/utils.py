"""Checkpoint version migration. fastlit reads and writes Lightning 2.x checkpoints; Lightning's own migrations all
concern files older than 2.0, which fastlit does not upgrade (Lightning's ``upgrade_checkpoint`` does, once)."""
from __future__ import annotations

from types import TracebackType
from typing import Any, Optional

from fastlit.__about__ import LIGHTNING_VERSION
from fastlit._placeholders import NotSupportedError, reason
from fastlit.utilities.enums import LightningEnum  # noqa: F401  (Lightning's module exports it)
from fastlit.utilities.rank_zero import rank_zero_warn
from fastlit.utilities.warnings import PossibleUserWarning

# the newest Lightning version with a checkpoint migration: files at least this new need none
_LAST_MIGRATION = "2.0.0"


def _version_tuple(version: str) -> tuple:
    from packaging.version import Version

    return Version(version).release


def migrate_checkpoint(checkpoint: dict[str, Any], target_version: Optional[str] = None
                       ) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """Bring a loaded checkpoint dict up to the current format, in place; returns it and the migrations applied
    (always none: fastlit only accepts files that need none).

    Raises:
        NotSupportedError: the checkpoint predates Lightning 2.0 and would need one of Lightning's migrations.
    """
    version = checkpoint["pytorch-lightning_version"]
    if _version_tuple(version) > _version_tuple(LIGHTNING_VERSION):
        rank_zero_warn(f"The loaded checkpoint was produced with Lightning v{version}, which is newer than the version "
                       f"fastlit writes: v{LIGHTNING_VERSION}", category=PossibleUserWarning)
        return checkpoint, {}
    limit = _LAST_MIGRATION if target_version is None else min(target_version, _LAST_MIGRATION, key=_version_tuple)
    if _version_tuple(version) < _version_tuple(limit):
        missing, instead = reason("legacy_checkpoint")
        raise NotSupportedError(f"This checkpoint was written by Lightning v{version}: {missing}. {instead}")
    if version != LIGHTNING_VERSION:
        checkpoint.setdefault("legacy_pytorch-lightning_version", version)
    checkpoint["pytorch-lightning_version"] = LIGHTNING_VERSION
    return checkpoint, {}


class pl_legacy_patch:  # noqa: N801  (Lightning's name)
    """Context manager Lightning uses to unpickle objects of long-removed classes in pre-2.0 checkpoints.

    fastlit loads checkpoints with ``weights_only=True`` (no classes are unpickled), so there is nothing to patch:
    entering and leaving it does nothing, and code that wraps a ``torch.load`` in it keeps working.
    """

    def __enter__(self) -> pl_legacy_patch:
        return self

    def __exit__(self, exc_type: Optional[type[BaseException]], exc_value: Optional[BaseException],
                 exc_traceback: Optional[TracebackType]) -> None:
        return None
