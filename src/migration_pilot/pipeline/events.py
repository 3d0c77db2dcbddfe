"""Pipeline events: the library emits them, the CLI renders them, metrics could subscribe."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Event:
    """Something the pipeline did; `kind` names it, `data` holds the facts."""

    kind: str
    message: str
    data: dict[str, Any] = field(default_factory=dict)


EventSink = Callable[[Event], None]


def ignore(event: Event) -> None:
    """The sink used when nobody listens."""
