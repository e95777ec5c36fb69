"""Warning categories: ``PossibleUserWarning`` for checks that may be false positives, and the switch to mute them."""
from __future__ import annotations

import warnings


class PossibleUserWarning(UserWarning):
    """A warning about something that is often, but not always, a mistake (so it can be muted on its own)."""


def disable_possible_user_warnings(module: str = "") -> None:
    """Ignore :class:`PossibleUserWarning` from ``module`` (a regex on the warning's module; default: everywhere)."""
    warnings.filterwarnings("ignore", module=module, category=PossibleUserWarning)
