"""ImpactMonitor: a background thread that samples what a migration does to everyone else.

    with ImpactMonitor("default", watch=backend_pid, max_blocked=0.5) as monitor:
        monitor.mark("shop.0002_invoice_status")
        ...apply the migration...
        report = monitor.mark("shop.0003_...")   # the window that just ended
    whole_run = monitor.report()

It runs on its own connection (see connection.py), at `interval` seconds,
and never raises into the caller: a failed sample is counted and its message
kept in the report, and the sampler reconnects, backing off up to 2 s while
the server keeps failing it. Callbacks (`on_sample`, `on_trip`) run on the
sampler thread and must not block it for long.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Final

from migration_pilot.exceptions import ConfigError
from migration_pilot.monitor.connection import monitor_settings, open_connection, server_version, vendor_of
from migration_pilot.monitor.mysql import MysqlProbe
from migration_pilot.monitor.postgresql import PostgresProbe
from migration_pilot.monitor.report import (
    BlockedSession,
    Counters,
    ImpactReport,
    IndexProgress,
    Sample,
    Trip,
)
from migration_pilot.monitor.watch import Watch

SUPPORTED: Final = frozenset({"postgresql", "mysql"})
_KEPT_ERRORS: Final = 5
_START_TIMEOUT_S: Final = 15.0
_FRESH_SAMPLE_TIMEOUT_S: Final = 2.0
_JOIN_TIMEOUT_S: Final = 10.0
_MAX_RETRY_DELAY_S: Final = 2.0


def unsupported_note(vendor: str) -> str:
    """Why there is nothing to sample on `vendor`."""
    if vendor == "sqlite":
        return ("SQLite has no server sessions to sample: a migration holds the whole database file,"
                " and nothing records who waited on it.")
    return f"The impact monitor does not know how to sample {vendor} databases."


def _delta(first: int | None, last: int | None) -> int | None:
    if first is None or last is None:
        return None
    return max(0, last - first)


@dataclass(slots=True)
class _Window:
    """Accumulates samples into one ImpactReport (mutable; only the monitor touches it, under its lock)."""

    label: str
    started_s: float
    baseline: Counters | None
    last_counters: Counters | None = None
    ended_s: float | None = None
    samples: int = 0
    lock_wait_samples: int = 0
    blocked: dict[int, BlockedSession] = field(default_factory=dict)
    watched_wait_s: float = 0.0
    max_lag_s: float | None = None
    index: IndexProgress | None = None
    trips: list[Trip] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    error_count: int = 0

    def add(self, sample: Sample) -> None:
        self.samples += 1
        if sample.error is not None:
            self.error_count += 1
            if sample.error not in self.errors and len(self.errors) < _KEPT_ERRORS:
                self.errors.append(sample.error)
            return
        if self.baseline is None:
            self.baseline = sample.counters
        self.last_counters = sample.counters
        if sample.blocked:
            self.lock_wait_samples += 1
        for wait in sample.blocked:
            seen = self.blocked.get(wait.pid)
            if seen is None or wait.wait_s > seen.longest_wait_s:
                self.blocked[wait.pid] = BlockedSession(wait.pid, wait.application, wait.wait_s, wait.mode,
                                                        wait.table, wait.query, wait.blocked_by, wait.root)
        for session in sample.watched:
            if session.waiting is not None:
                self.watched_wait_s = max(self.watched_wait_s, session.waiting.wait_s)
        if sample.replica_lag_s is not None:
            self.max_lag_s = max(self.max_lag_s or 0.0, sample.replica_lag_s)
        if sample.index_progress:
            self.index = sample.index_progress[-1]

    def report(self, vendor: str, now_s: float) -> ImpactReport:
        duration = max(0.0, (self.ended_s if self.ended_s is not None else now_s) - self.started_s)
        first, last = self.baseline or Counters(), self.last_counters or Counters()
        rows = _delta(first.rows, last.rows)
        blocked = tuple(sorted(self.blocked.values(), key=lambda b: -b.longest_wait_s))
        return ImpactReport(
            label=self.label, vendor=vendor, supported=True, duration_s=round(duration, 3), samples=self.samples,
            longest_wait_s=round(max((b.longest_wait_s for b in blocked), default=0.0), 3),
            sessions_blocked=len(blocked), lock_wait_samples=self.lock_wait_samples, blocked=blocked,
            watched_lock_wait_s=round(self.watched_wait_s, 3),
            rollbacks=_delta(first.rollbacks, last.rollbacks), deadlocks=_delta(first.deadlocks, last.deadlocks),
            conflicts=_delta(first.conflicts, last.conflicts), lock_waits=_delta(first.lock_waits, last.lock_waits),
            rows_written=rows, rows_per_s=round(rows / duration, 1) if rows is not None and duration > 0 else None,
            max_replica_lag_s=self.max_lag_s, index_progress=self.index, trips=tuple(self.trips),
            errors=tuple(self.errors), error_count=self.error_count)


class ImpactMonitor:
    """Samples, on its own connection, the sessions that the watched ones block.

    `database` is an alias or a DATABASES-style dict. `watch` is a backend pid
    (MySQL: connection id), several, or an application_name prefix (default:
    every `migration-pilot` session). `max_blocked` (seconds) arms the circuit
    breaker: when another session has waited on a watched one longer than
    that, the watched session's statement is cancelled (pg_cancel_backend /
    KILL QUERY; never a terminate, never anyone else) and the trip recorded.
    """

    def __init__(self, database: str | Mapping[str, Any] = "default", *,
                 watch: int | str | Iterable[int] | Watch | None = None, interval: float = 0.1,
                 max_blocked: float | None = None, on_sample: Callable[[Sample], None] | None = None,
                 on_trip: Callable[[Trip], None] | None = None) -> None:
        if not interval > 0:
            raise ConfigError(f"Bad sampling interval {interval!r}: it must be more than 0 seconds",
                              source="the impact monitor's interval")
        if max_blocked is not None and not max_blocked > 0:
            raise ConfigError(f"Bad max_blocked {max_blocked!r}: it must be more than 0 seconds (or None for no"
                              " circuit breaker)", source="the impact monitor's max_blocked")
        self.alias, self._params = monitor_settings(database)
        self.vendor = vendor_of(self._params)
        self.interval = float(interval)
        self.max_blocked = max_blocked
        self._watch = Watch.of(watch)
        self._on_sample = on_sample
        self._on_trip = on_trip
        self._lock = threading.Lock()
        self._sampled = threading.Condition(self._lock)
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._sequence = 0  # samples ingested
        self._begun = 0  # samples begun: the one in flight, if any, is number _begun
        self._latest: Sample | None = None
        self._started_s = time.monotonic()
        self._run = _Window("run", self._started_s, None)
        self._current = _Window("", self._started_s, None)
        self._closed: list[_Window] = []
        self._tripped_pairs: set[tuple[int, int]] = set()
        self._callback_errors = 0

    @property
    def supported(self) -> bool:
        """Whether this vendor has anything to sample (SQLite does not)."""
        return self.vendor in SUPPORTED

    # -- lifecycle -----------------------------------------------------------------------------------------------

    def start(self) -> ImpactMonitor:
        """Start sampling; returns once the first sample is in (or failed), so the baseline precedes the work."""
        if self._thread is not None or not self.supported:
            return self
        self._started_s = time.monotonic()
        self._run.started_s = self._current.started_s = self._started_s
        self._thread = threading.Thread(target=self._loop, name="migration-pilot monitor", daemon=True)
        self._thread.start()
        self._await_sample(1, _START_TIMEOUT_S)
        return self

    def stop(self) -> ImpactReport:
        """Take a last sample, stop the thread, close the connection; returns the whole run's report."""
        if self._thread is not None:
            self._stop.set()
            self._wake.set()
            self._thread.join(_JOIN_TIMEOUT_S)  # a daemon thread: never keep the caller past this
            self._thread = None
        now = time.monotonic()
        with self._lock:
            for window in (self._run, self._current):
                if window.ended_s is None:
                    window.ended_s = now
        return self.report()

    def __enter__(self) -> ImpactMonitor:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # -- what the caller reads -----------------------------------------------------------------------------------

    def watch(self, watch: int | str | Iterable[int] | Watch | None) -> None:
        """Watch other sessions from the next sample on (say, after the deploy reconnected)."""
        with self._lock:
            self._watch = Watch.of(watch)

    def mark(self, label: str, *, fresh: bool = True) -> ImpactReport | None:
        """End the current window and start one called `label`; returns the ended window's report.

        With `fresh`, a sample is taken first (waiting at most ~2 s), so the
        ended window's counters reach up to this moment.
        """
        if fresh:
            self.sample_now()
        now = time.monotonic()
        with self._lock:
            ended = self._current
            ended.ended_s = now
            self._closed.append(ended)
            self._current = _Window(label, now, ended.last_counters)
            return self._report_of(ended, now) if self.supported else None

    def window(self) -> ImpactReport:
        """The current window's report so far."""
        with self._lock:
            return self._report_of(self._current, time.monotonic())

    def windows(self) -> list[ImpactReport]:
        """Every window so far, the current one last (empty-labelled ones included)."""
        now = time.monotonic()
        with self._lock:
            return [self._report_of(w, now) for w in [*self._closed, self._current]]

    def report(self) -> ImpactReport:
        """The report of everything sampled since start."""
        with self._lock:
            return self._report_of(self._run, time.monotonic())

    def latest(self) -> Sample | None:
        """The most recent sample (None before the first)."""
        with self._lock:
            return self._latest

    def sample_now(self, timeout: float = _FRESH_SAMPLE_TIMEOUT_S) -> Sample | None:
        """Ask the thread for a sample at once and wait for it; returns it (None when not running)."""
        if self._thread is None:
            return self.latest()
        with self._lock:
            target = self._begun + 1  # one that begins after this call, not one already in flight
        self._wake.set()
        self._await_sample(target, timeout)
        return self.latest()

    def _report_of(self, window: _Window, now: float) -> ImpactReport:
        if not self.supported:
            duration = max(0.0, (window.ended_s if window.ended_s is not None else now) - window.started_s)
            return ImpactReport(label=window.label, vendor=self.vendor, supported=False, duration_s=round(duration, 3),
                                samples=0, longest_wait_s=0.0, sessions_blocked=0, lock_wait_samples=0,
                                note=unsupported_note(self.vendor))
        return window.report(self.vendor, now)

    def _await_sample(self, sequence: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with self._sampled:
            while self._sequence < sequence and self._thread is not None and self._thread.is_alive():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return
                self._sampled.wait(min(remaining, 0.05))

    # -- the sampler thread ----------------------------------------------------------------------------------------

    def _loop(self) -> None:
        probe: PostgresProbe | MysqlProbe = PostgresProbe() if self.vendor == "postgresql" else MysqlProbe()
        wrapper: Any = None
        failures = 0
        try:
            while True:
                self._wake.clear()  # a wake-up asked for from here on is for the next sample
                with self._lock:
                    self._begun += 1
                began = time.monotonic()
                last = self._stop.is_set()
                try:
                    if wrapper is None:
                        wrapper = open_connection(self.alias, self._params)
                        with wrapper.connection.cursor() as cursor:
                            probe.prepare(cursor, server_version(wrapper))
                    with self._lock:
                        watch = self._watch
                    with wrapper.connection.cursor() as cursor:
                        sample = probe.sample(cursor, watch, began - self._started_s)
                    failures = 0
                except Exception as exc:  # a sample must never take the caller down: record it, reconnect
                    sample = Sample(began - self._started_s, error=_describe(exc, self._params))
                    _close(wrapper)
                    wrapper = None
                    failures += 1
                self._ingest(sample)
                if wrapper is not None and sample.error is None and self.max_blocked is not None:
                    try:
                        with wrapper.connection.cursor() as cursor:
                            self._breaker(probe, cursor, sample)
                    except Exception as exc:
                        self._record_error(f"circuit breaker: {_describe(exc, self._params)}")
                        _close(wrapper)
                        wrapper = None
                if last:
                    return
                # Back off while the server fails us, rather than reconnecting ten times a second.
                pause = min(_MAX_RETRY_DELAY_S, self.interval * 2 ** min(failures, 8)) if failures else self.interval
                self._wake.wait(max(0.0, pause - (time.monotonic() - began)))
        finally:
            _close(wrapper)
            with self._sampled:
                self._sampled.notify_all()

    def _ingest(self, sample: Sample) -> None:
        with self._sampled:
            self._latest = sample
            self._run.add(sample)
            self._current.add(sample)
            self._sequence += 1
            self._sampled.notify_all()
        if self._on_sample is not None:
            try:
                self._on_sample(sample)
            except Exception:  # the caller's display must not stop the sampling
                self._callback_errors += 1

    def _breaker(self, probe: PostgresProbe | MysqlProbe, cursor: Any, sample: Sample) -> None:
        """Cancel the watched statement that made someone wait longer than max_blocked (once per wait)."""
        waiting = {w.pid for w in sample.blocked}
        self._tripped_pairs = {pair for pair in self._tripped_pairs if pair[1] in waiting}
        if self.max_blocked is None:
            return
        watched = {s.pid: s for s in sample.watched}
        for wait in sorted(sample.blocked, key=lambda w: -w.wait_s):
            pair = (wait.root, wait.pid)
            if wait.wait_s <= self.max_blocked or wait.root not in watched or pair in self._tripped_pairs:
                continue
            self._tripped_pairs.add(pair)
            session = watched[wait.root]
            why = (f"session {wait.pid} waited {wait.wait_s:.2f}s for {wait.mode or 'a lock'}"
                   f"{' on ' + wait.table if wait.table else ''} (limit {self.max_blocked:g}s)")
            who = f"session {wait.root} ({session.application or 'no name'}, {session.state or 'unknown state'})"
            with self._lock:  # cancel and record together: whoever sees the effect also sees the trip
                if session.state.startswith(("idle", "Sleep")):
                    # Between statements there is nothing to cancel, and ending the transaction is not ours.
                    cancelled, detail = False, f"Did not cancel {who}: it runs no statement; {why}."
                else:
                    cancelled = probe.cancel(cursor, wait.root)
                    detail = f"Cancelled the statement of {who} after {why}."
                trip = Trip(sample.at_s, wait.root, wait.pid, round(wait.wait_s, 3), cancelled, detail)
                self._run.trips.append(trip)
                self._current.trips.append(trip)
            if self._on_trip is not None:
                with contextlib.suppress(Exception):
                    self._on_trip(trip)

    def _record_error(self, message: str) -> None:
        with self._lock:
            for window in (self._run, self._current):
                window.error_count += 1
                if message not in window.errors and len(window.errors) < _KEPT_ERRORS:
                    window.errors.append(message)


def _describe(exc: BaseException, params: Mapping[str, Any]) -> str:
    """The first line of a sampling failure, with the password masked."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    password = str(params.get("PASSWORD") or "")
    if password:
        text = text.replace(password, "***")
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _close(wrapper: Any) -> None:
    if wrapper is not None:
        with contextlib.suppress(Exception):
            wrapper.close()
