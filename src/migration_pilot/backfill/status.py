"""Checkpoints as values for `pilot backfill --status`: progress, rate and ETA."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from typing import Any

from django.db import connections

from migration_pilot.backfill.engine import CHECKPOINT_TABLE


@dataclass(frozen=True, slots=True)
class CheckpointStatus:
    """One backfill as its checkpoint tells it."""

    name: str
    table: str
    description: str
    state: str
    rows_scanned: int
    rows_done: int
    rows_total: int | None
    last_key: str | None
    end_key: str | None
    batches: int
    batch_size: int
    rate: float | None
    eta_s: float | None
    lock_wait_s: float
    throttled_s: float
    host: str
    pid: int | None
    started_at: str
    updated_at: str
    finished_at: str | None
    error: str


def _state(row: Any) -> str:
    """'running' only while its process lives (checked on this host); a kill -9 left 'interrupted'."""
    if row.state != "running" or row.host != socket.gethostname() or not row.pid:
        return str(row.state)
    try:
        os.kill(row.pid, 0)
    except ProcessLookupError:
        return "interrupted"
    except PermissionError:
        pass
    return "running"


def checkpoints(using: str, name: str | None = None) -> list[CheckpointStatus]:
    """Every checkpoint in `using` (or the one named), oldest first; none when the table is absent."""
    connection = connections[using]
    with connection.cursor() as cursor:
        if CHECKPOINT_TABLE not in connection.introspection.table_names(cursor):
            return []
    from migration_pilot.models import BackfillCheckpoint

    rows = BackfillCheckpoint.objects.using(using).all()
    if name:
        rows = rows.filter(name=name)
    found = []
    for row in rows:
        working = row.busy_s + row.throttled_s
        rate = row.rows_scanned / working if working > 0 and row.rows_scanned else None
        state = _state(row)
        eta = None
        if state != "done" and rate and row.rows_total is not None:
            eta = max(0, row.rows_total - row.rows_scanned) / rate
        found.append(CheckpointStatus(
            row.name, row.table, row.description, state, row.rows_scanned, row.rows_done, row.rows_total,
            row.last_key, row.end_key, row.batches, row.batch_size, rate, eta, row.lock_wait_s,
            row.throttled_s, row.host, row.pid, row.started_at.isoformat(), row.updated_at.isoformat(),
            row.finished_at.isoformat() if row.finished_at else None, row.error))
    return found


def forget(using: str, name: str) -> bool:
    """Delete a checkpoint so the backfill starts over; whether there was one."""
    from migration_pilot.models import BackfillCheckpoint

    deleted, _ = BackfillCheckpoint.objects.using(using).filter(name=name).delete()
    return bool(deleted)
