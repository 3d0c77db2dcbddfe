"""Durations as users write them: '2s', '500ms', '5min', '1h', '0' (no limit)."""

from __future__ import annotations

import re
from typing import Final

from migration_pilot.exceptions import ConfigError

_UNITS: Final = {"ms": 0.001, "s": 1.0, "sec": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}
_PATTERN: Final = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*(ms|s|sec|m|min|h)?\s*$")


def parse_duration(value: str | float | int, *, source: str) -> float:
    """Seconds in `value`; a bare number means seconds; 0 means no limit."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    else:
        match = _PATTERN.match(str(value))
        if match is None:
            raise ConfigError(
                f"Bad duration {value!r}: write a number with a unit, such as 2s, 500ms, 5min or 1h",
                source=source,
            )
        seconds = float(match[1]) * _UNITS[match[2] or "s"]
    if seconds < 0:
        raise ConfigError(f"Bad duration {value!r}: it cannot be negative", source=source)
    return seconds


def format_duration(seconds: float) -> str:
    """'250ms', '2s', '5min' for messages."""
    if seconds == 0:
        return "no limit"
    if seconds < 1:
        return f"{round(seconds * 1000)}ms"
    if seconds < 120 or seconds % 60:
        return f"{seconds:g}s"
    return f"{seconds / 60:g}min"
