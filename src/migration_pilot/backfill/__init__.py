"""Resumable batched backfills: keyset windows on the primary key, each committed with a checkpoint.

Library code: it reports progress through events (`events.py`) and never prints.
The `Backfill` migration operation (migration_pilot.operations) and
`pilot backfill` are built on `run_backfill`.
"""

from __future__ import annotations

from migration_pilot.backfill.engine import Tuning, run_backfill
from migration_pilot.backfill.events import (
    Analyzed,
    BackfillEvent,
    BackfillFinished,
    BackfillStarted,
    BatchCommitted,
    Throttled,
    listening,
)
from migration_pilot.backfill.work import PerRow, SetValues

__all__ = [
    "Analyzed",
    "BackfillEvent",
    "BackfillFinished",
    "BackfillStarted",
    "BatchCommitted",
    "PerRow",
    "SetValues",
    "Throttled",
    "Tuning",
    "listening",
    "run_backfill",
]
