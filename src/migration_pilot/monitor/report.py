"""What the impact monitor saw: one `Sample` per tick, one `ImpactReport` per window.

Values only. The sampler builds them, the deploy stores them in the run
history and the metrics file, and `pilot monitor` renders them.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class LockWait:
    """A session waiting for a lock: who, since when, for which lock, behind whom."""

    pid: int
    application: str
    wait_s: float
    mode: str
    table: str
    query: str
    blocked_by: tuple[int, ...]
    root: int = 0
    """The watched session at the head of the chain of blockers (0 when not known)."""


@dataclass(frozen=True, slots=True)
class WatchedSession:
    """A session being watched (the migration's): what it runs, holds and waits for."""

    pid: int
    application: str
    state: str
    running_s: float | None
    query: str
    holds: tuple[str, ...] = ()
    waiting: LockWait | None = None


@dataclass(frozen=True, slots=True)
class IndexProgress:
    """One row of pg_stat_progress_create_index for a watched session."""

    pid: int
    table: str
    index: str
    phase: str
    blocks_done: int
    blocks_total: int
    tuples_done: int
    tuples_total: int

    @property
    def fraction(self) -> float | None:
        """Share of the current phase done (blocks when counted, else tuples), None when unknown."""
        if self.blocks_total:
            return self.blocks_done / self.blocks_total
        if self.tuples_total:
            return self.tuples_done / self.tuples_total
        return None


@dataclass(frozen=True, slots=True)
class Counters:
    """Server counters whose deltas say what other sessions felt.

    PostgreSQL: pg_stat_database of the current database. MySQL/MariaDB: global
    status (the whole server): Com_rollback, Innodb_deadlocks (MariaDB only),
    Innodb_row_lock_waits. `rows` counts rows written (inserted, updated, deleted).
    """

    rollbacks: int | None = None
    deadlocks: int | None = None
    conflicts: int | None = None
    lock_waits: int | None = None
    rows: int | None = None


@dataclass(frozen=True, slots=True)
class Trip:
    """The circuit breaker fired: `blocked_pid` waited `waited_s` on watched session `pid`."""

    at_s: float
    pid: int
    blocked_pid: int
    waited_s: float
    cancelled: bool
    detail: str


@dataclass(frozen=True, slots=True)
class Sample:
    """One tick of the sampler."""

    at_s: float
    watched: tuple[WatchedSession, ...] = ()
    blocked: tuple[LockWait, ...] = ()
    index_progress: tuple[IndexProgress, ...] = ()
    counters: Counters = field(default_factory=Counters)
    replica_lag_s: float | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class BlockedSession:
    """Another session the watched ones blocked during a window, at its longest wait."""

    pid: int
    application: str
    longest_wait_s: float
    mode: str
    table: str
    query: str
    blocked_by: tuple[int, ...]
    root: int = 0


@dataclass(frozen=True, slots=True)
class ImpactReport:
    """What the application felt during one window (a migration, or the whole run).

    `longest_wait_s` is the longest any other session was seen waiting on a
    watched one; waits shorter than one sampling interval can go unseen, and a
    wait's end is known to within one interval. Counter deltas are None where
    the server does not count them (or sampling never succeeded).
    """

    label: str
    vendor: str
    supported: bool
    duration_s: float
    samples: int
    longest_wait_s: float
    sessions_blocked: int
    lock_wait_samples: int
    blocked: tuple[BlockedSession, ...] = ()
    watched_lock_wait_s: float = 0.0
    rollbacks: int | None = None
    deadlocks: int | None = None
    conflicts: int | None = None
    lock_waits: int | None = None
    rows_written: int | None = None
    rows_per_s: float | None = None
    max_replica_lag_s: float | None = None
    index_progress: IndexProgress | None = None
    trips: tuple[Trip, ...] = ()
    errors: tuple[str, ...] = ()
    error_count: int = 0
    note: str = ""

    @property
    def tripped(self) -> bool:
        """Whether the circuit breaker fired in this window."""
        return bool(self.trips)

    def to_dict(self, *, max_sessions: int = 20) -> dict[str, Any]:
        """A JSON-ready dict (the run history's and `pilot monitor --format json`'s shape).

        Only the `max_sessions` longest-waiting sessions are listed, so a run
        history row stays small under heavy traffic; `sessions_blocked` still
        counts them all.
        """
        data = asdict(self)
        data["blocked"] = data["blocked"][:max_sessions]
        data["tripped"] = self.tripped
        return _json_ready(data)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ImpactReport:
        """The report back from `to_dict()` output (a run history row); unknown keys are ignored."""
        known = set(cls.__dataclass_fields__)
        values = {key: value for key, value in data.items() if key in known}
        values["blocked"] = tuple(BlockedSession(**{**b, "blocked_by": tuple(b.get("blocked_by", ()))})
                                  for b in data.get("blocked", ()))
        values["trips"] = tuple(Trip(**t) for t in data.get("trips", ()))
        values["errors"] = tuple(data.get("errors", ()))
        if data.get("index_progress"):
            values["index_progress"] = IndexProgress(**data["index_progress"])
        return cls(**values)

    def summary(self) -> str:
        """One line for deploy output and `pilot history`: the longest wait, who, and what else happened."""
        if not self.supported:
            return "not sampled: " + self.note
        parts = [f"longest wait by another session {self.longest_wait_s:.2f}s",
                 f"{self.sessions_blocked} {'session' if self.sessions_blocked == 1 else 'sessions'} blocked"]
        if self.blocked:
            worst = self.blocked[0]
            who = f"pid {worst.pid}" + (f" {worst.application}" if worst.application else "")
            parts[0] += f" ({who}, {worst.mode or 'a lock'}{' on ' + worst.table if worst.table else ''})"
        if self.trips:
            parts.append(f"circuit breaker tripped {len(self.trips)}x")
        parts += [f"{name} +{value}" for name, value in (("rollbacks", self.rollbacks), ("deadlocks", self.deadlocks),
                                                         ("conflicts", self.conflicts)) if value]
        if self.max_replica_lag_s is not None:
            parts.append(f"replica lag up to {self.max_replica_lag_s:.2f}s")
        if self.error_count:
            parts.append(f"{self.error_count} of {self.samples} samples failed")
        return ", ".join(parts)

    def metrics(self) -> dict[str, float | int]:
        """Figures for the metrics file, by metric name suffix (absent when the server does not count them)."""
        values: dict[str, float | int | None] = {
            "impact_longest_wait_seconds": self.longest_wait_s,
            "impact_sessions_blocked": self.sessions_blocked,
            "impact_breaker_trips": len(self.trips),
            "impact_rollbacks": self.rollbacks,
            "impact_deadlocks": self.deadlocks,
            "impact_replica_lag_seconds": self.max_replica_lag_s,
        }
        return {name: value for name, value in values.items() if value is not None} if self.supported else {}


def sample_to_dict(sample: Sample) -> dict[str, Any]:
    """A JSON-ready dict of one sample (`pilot monitor --format json`)."""
    return _json_ready(asdict(sample))


def _json_ready(data: dict[str, Any]) -> dict[str, Any]:
    """Tuples as lists, exactly as the dict reads back from JSON (and from a JSONField)."""
    result: dict[str, Any] = json.loads(json.dumps(data))
    return result
