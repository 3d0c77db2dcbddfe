"""The impact monitor: what the application felt while a migration ran.

A background thread on its own connection samples the sessions the watched
ones (the migration's) block and for how long, their own lock waits, index
builds, the database's rollback/deadlock counters and replica lag; results
are values (`ImpactReport` per window, `Sample` per tick). `pilot monitor`
renders them live; the deploy records them per migration.
"""

from __future__ import annotations

from migration_pilot.monitor.connection import session_id
from migration_pilot.monitor.report import (
    BlockedSession,
    Counters,
    ImpactReport,
    IndexProgress,
    LockWait,
    Sample,
    Trip,
    WatchedSession,
    sample_to_dict,
)
from migration_pilot.monitor.sampler import ImpactMonitor, unsupported_note
from migration_pilot.monitor.watch import APPLICATION_PREFIX, MONITOR_APPLICATION, Watch

__all__ = [
    "APPLICATION_PREFIX",
    "MONITOR_APPLICATION",
    "BlockedSession",
    "Counters",
    "ImpactMonitor",
    "ImpactReport",
    "IndexProgress",
    "LockWait",
    "Sample",
    "Trip",
    "Watch",
    "WatchedSession",
    "sample_to_dict",
    "session_id",
    "unsupported_note",
]
