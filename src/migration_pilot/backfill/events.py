"""What a running backfill reports: values passed to a callback, never printed here.

The command line renders them (progress bar, plain lines or JSON); a Backfill
operation run by `migrate` or `pilot deploy` has no callback of its own, so
listeners registered with `listening()` receive the events of every backfill
run in this process.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TypeAlias


@dataclass(frozen=True, slots=True)
class BackfillStarted:
    """A backfill started, or resumed after `last_key` (None: from the first row)."""

    name: str
    table: str
    resumed: bool
    last_key: str | None
    end_key: str | None
    rows_scanned: int
    rows_total: int | None
    batch_size: int


@dataclass(frozen=True, slots=True)
class BatchCommitted:
    """One batch and its checkpoint committed together."""

    name: str
    batch: int
    rows_scanned: int
    rows_updated: int
    last_key: str
    duration_s: float
    lock_wait_s: float
    batch_size: int
    next_batch_size: int
    total_scanned: int
    total_done: int
    rows_total: int | None
    rate: float
    eta_s: float | None


@dataclass(frozen=True, slots=True)
class Throttled:
    """The backfill slept: `reason` is lock_wait, lock_timeout, replica_lag or sleep."""

    name: str
    reason: str
    seconds: float
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Analyzed:
    """The table's planner statistics were refreshed after the last batch."""

    name: str
    table: str
    duration_s: float


@dataclass(frozen=True, slots=True)
class BackfillFinished:
    """Every batch is done (`already_done`: a checkpoint said so before this run started)."""

    name: str
    table: str
    rows_scanned: int
    rows_done: int
    batches: int
    elapsed_s: float
    rate: float
    already_done: bool = False


BackfillEvent: TypeAlias = BackfillStarted | BatchCommitted | Throttled | Analyzed | BackfillFinished
Listener: TypeAlias = Callable[[BackfillEvent], None]

_listeners: list[Listener] = []


@contextlib.contextmanager
def listening(listener: Listener) -> Iterator[None]:
    """Send the events of every backfill run in this process to `listener` while inside."""
    _listeners.append(listener)
    try:
        yield
    finally:
        _listeners.remove(listener)


def emit(event: BackfillEvent, callback: Listener | None) -> None:
    """Deliver `event` to the run's own callback and to the registered listeners."""
    if callback is not None:
        callback(event)
    for listener in list(_listeners):
        if listener is not callback:
            listener(event)
