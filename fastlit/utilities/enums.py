"""String enums that compare equal to their value, case-insensitively (``TrainerFn.FITTING == "FIT"``)."""
from __future__ import annotations

import warnings
from enum import Enum
from typing import Literal, Optional

_Source = Literal["key", "value", "any"]


class LightningEnum(str, Enum):
    """A ``str`` enum whose members equal their value in any letter case, and hash the same way."""

    @classmethod
    def from_str(cls, value: str, source: _Source = "key") -> LightningEnum:
        """The member whose name (``source="key"``), value (``"value"``) or either (``"any"``, names first) is
        ``value``; names match case-insensitively.

        Raises:
            ValueError: nothing matches.
        """
        if source in ("key", "any"):
            for key in cls.__members__:
                if key.lower() == value.lower():
                    return cls[key]
        if source in ("value", "any"):
            for key, member in cls.__members__.items():
                if member == value:
                    return cls[key]
        raise ValueError(f"Invalid match: expected one of {cls._allowed_matches(source)}, but got {value}.")

    @classmethod
    def try_from_str(cls, value: str, source: _Source = "key") -> Optional[LightningEnum]:
        """Like :meth:`from_str`, but warns and returns ``None`` when nothing matches."""
        try:
            return cls.from_str(value, source)
        except ValueError:
            warnings.warn(UserWarning(f"Invalid string: expected one of {cls._allowed_matches(source)}, but got "
                                      f"{value}."), stacklevel=2)
            return None

    @classmethod
    def _allowed_matches(cls, source: str) -> list[str]:
        keys = list(cls.__members__)
        values = [m.value for m in cls.__members__.values()]
        return keys if source == "key" else values if source == "value" else keys + values

    def __eq__(self, other: object) -> bool:
        other = other.value if isinstance(other, Enum) else other
        return self.value.lower() == str(other).lower()

    def __hash__(self) -> int:
        # equal members must hash equal: "fit" and "FIT" land in the same dict slot
        return hash(self.value.lower())


class GradClipAlgorithmType(LightningEnum):
    """``Trainer(gradient_clip_algorithm=...)``: clip the total norm of all gradients, or each value."""

    VALUE = "value"
    NORM = "norm"

    @staticmethod
    def supported_type(val: str) -> bool:
        return any(x.value == val for x in GradClipAlgorithmType)

    @staticmethod
    def supported_types() -> list[str]:
        return [x.value for x in GradClipAlgorithmType]
