"""``lightning.fabric.utilities.rank_zero`` (Lightning 2.6.6): fastlit's rank-zero helpers under Fabric's path."""
from __future__ import annotations

import logging

from fastlit.utilities.rank_zero import (  # noqa: F401
    LightningDeprecationWarning,
    WarningCache,
    _get_rank,
    rank_prefixed_message,
    rank_zero_debug,
    rank_zero_deprecation,
    rank_zero_info,
    rank_zero_only,
    rank_zero_warn,
)

log = logging.getLogger(__name__)
