"""Vendor-specific facts a backfill needs: lock waits, replica lag, timeouts, statistics.

Everything here reads or sets session state only; identifiers are quoted with
the connection's own quote_name.
"""

from __future__ import annotations

import copy
import math
import threading
import time
from typing import Any

from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.utils import DatabaseError

# SQLSTATE / MySQL error numbers that mean "gave up waiting for a lock": retry the batch.
_PG_LOCK_STATES = frozenset({"55P03", "40P01"})  # lock_not_available, deadlock_detected
_MYSQL_LOCK_ERRORS = frozenset({1205, 1213})  # lock wait timeout, deadlock


def session_id(connection: BaseDatabaseWrapper) -> int | None:
    """The server's id of this connection's session (None on SQLite)."""
    query = {"postgresql": "SELECT pg_backend_pid()", "mysql": "SELECT CONNECTION_ID()"}.get(connection.vendor)
    if query is None:
        return None
    with connection.cursor() as cursor:
        cursor.execute(query)
        return int(cursor.fetchone()[0])


def is_lock_failure(exc: BaseException, vendor: str) -> bool:
    """Whether a batch failed because it waited too long for a lock or was a deadlock victim."""
    cause = exc.__cause__ or exc
    if vendor == "postgresql":
        state = getattr(cause, "sqlstate", None) or getattr(cause, "pgcode", None)
        return state in _PG_LOCK_STATES
    if vendor == "mysql":
        args: tuple[Any, ...] = tuple(getattr(cause, "args", ()))
        return bool(args) and args[0] in _MYSQL_LOCK_ERRORS
    return "database is locked" in str(exc)


class LockTimeout:
    """Set the session's lock wait limit for the batches, and put the old one back afterwards."""

    def __init__(self, connection: BaseDatabaseWrapper, seconds: float) -> None:
        self.connection = connection
        self.seconds = seconds
        self.previous: Any = None

    def __enter__(self) -> LockTimeout:
        vendor = self.connection.vendor
        if self.seconds <= 0 or vendor not in {"postgresql", "mysql"}:
            return self
        with self.connection.cursor() as cursor:
            if vendor == "postgresql":
                cursor.execute("SELECT current_setting('lock_timeout')")
                self.previous = cursor.fetchone()[0]
                cursor.execute("SELECT set_config('lock_timeout', %s, false)", [f"{round(self.seconds * 1000)}ms"])
            else:
                cursor.execute("SELECT @@SESSION.innodb_lock_wait_timeout")
                self.previous = int(cursor.fetchone()[0])
                # MySQL counts whole seconds, at least 1.
                cursor.execute("SET SESSION innodb_lock_wait_timeout = %s", [max(1, math.ceil(self.seconds))])
        return self

    def __exit__(self, *exc: object) -> None:
        if self.previous is None or self.connection.connection is None:
            return
        try:
            with self.connection.cursor() as cursor:
                if self.connection.vendor == "postgresql":
                    cursor.execute("SELECT set_config('lock_timeout', %s, false)", [self.previous])
                else:
                    cursor.execute("SET SESSION innodb_lock_wait_timeout = %s", [self.previous])
        except DatabaseError:
            pass  # the connection is broken: nothing of the session survives anyway


class AsyncCommit:
    """PostgreSQL: commit the batches without waiting for their WAL to reach disk, in a named session.

    Safe for a backfill because each batch commits together with its
    checkpoint: a server crash can lose the last few commits, but it loses a
    batch's rows and its checkpoint update together, so the resume redoes
    exactly those rows. No row is done twice or skipped; a fsync per batch is
    saved. The session is named `migration-pilot backfill` (unless a deploy
    already named it) so `pilot monitor` finds it. Both settings are put back.
    """

    def __init__(self, connection: BaseDatabaseWrapper) -> None:
        self.connection = connection
        self.previous: tuple[str, str] | None = None

    def __enter__(self) -> AsyncCommit:
        if self.connection.vendor == "postgresql" and not self.connection.in_atomic_block:
            with self.connection.cursor() as cursor:
                cursor.execute("SELECT current_setting('synchronous_commit'), current_setting('application_name')")
                self.previous = tuple(cursor.fetchone())
                name = self.previous[1] if self.previous[1].startswith("migration-pilot") else (
                    "migration-pilot backfill")
                cursor.execute("SELECT set_config('synchronous_commit', 'off', false),"
                               " set_config('application_name', %s, false)", [name])
        return self

    def __exit__(self, *exc: object) -> None:
        if self.previous is None or self.connection.connection is None:
            return
        try:
            with self.connection.cursor() as cursor:
                cursor.execute("SELECT set_config('synchronous_commit', %s, false),"
                               " set_config('application_name', %s, false)", list(self.previous))
        except DatabaseError:
            pass


class LockWaitSampler:
    """How long the backfill's session waited on locks, sampled from a second session.

    A database reports a session's lock wait only while it is waiting, so a
    thread looks every `interval` seconds (pg_stat_activity's wait_event_type,
    InnoDB's trx_state) and adds up the time seen waiting. `take()` returns it
    and starts again, once per batch. SQLite has no such view: nothing sampled.
    """

    def __init__(self, connection: BaseDatabaseWrapper, interval: float) -> None:
        self.vendor = connection.vendor
        self.settings = copy.deepcopy(connection.settings_dict)
        self.wrapper_class = type(connection)
        # InnoDB refreshes its INNODB_TRX snapshot only when nobody read it for 0.1 s:
        # polling faster would keep reading the same stale snapshot forever.
        self.interval = max(interval, 0.15) if self.vendor == "mysql" and interval > 0 else interval
        self.target = session_id(connection) if interval > 0 else None
        self._waited = 0.0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> LockWaitSampler:
        if self.target is not None:
            self._thread = threading.Thread(target=self._run, name="backfill-lock-sampler", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def take(self) -> float:
        """Seconds seen waiting since the last call."""
        with self._lock:
            waited, self._waited = self._waited, 0.0
        return waited

    def _run(self) -> None:
        # A wrapper of its own, made in this thread: Django connections are per thread.
        wrapper = self.wrapper_class(self.settings, alias="migration_pilot_backfill_sampler")
        query = ("SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = %s"
                 if self.vendor == "postgresql" else
                 "SELECT trx_state = 'LOCK WAIT' FROM information_schema.INNODB_TRX WHERE trx_mysql_thread_id = %s")
        try:
            if self.vendor == "postgresql":
                with wrapper.cursor() as cursor:
                    cursor.execute("SELECT set_config('application_name', 'migration-pilot backfill monitor', false)")
            last = time.monotonic()
            while not self._stop.wait(self.interval):
                with wrapper.cursor() as cursor:
                    cursor.execute(query, [self.target])
                    row = cursor.fetchone()
                now = time.monotonic()
                if row and row[0]:
                    with self._lock:
                        self._waited += now - last
                last = now
        except DatabaseError:
            return  # no sampling is a loss of throttling precision, never a failed backfill
        finally:
            wrapper.close()


def replica_lag(connection: BaseDatabaseWrapper) -> float | None:
    """The largest replay lag of the primary's streaming replicas in seconds; None without replicas."""
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT EXTRACT(EPOCH FROM max(replay_lag)), count(*) FROM pg_stat_replication")
        lag, replicas = cursor.fetchone()
    if not replicas:
        return None
    return float(lag or 0.0)


def analyze(connection: BaseDatabaseWrapper, table: str) -> None:
    """Refresh the planner statistics of `table` after its rows changed."""
    quoted = connection.ops.quote_name(table)
    statement = {"postgresql": f"ANALYZE {quoted}", "mysql": f"ANALYZE TABLE {quoted}"}.get(
        connection.vendor, f"ANALYZE {quoted}")
    with connection.cursor() as cursor:
        cursor.execute(statement)
        if connection.vendor == "mysql":
            cursor.fetchall()


def estimate_rows(connection: BaseDatabaseWrapper, table: str) -> int | None:
    """A cheap row count for the ETA: the planner's estimate where there is one, else COUNT(*)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE oid = to_regclass(%s)",
                           [connection.ops.quote_name(table)])
            row = cursor.fetchone()
            if row and row[0] is not None and row[0] > 0:
                return int(row[0])
        elif connection.vendor == "mysql":
            cursor.execute("SELECT TABLE_ROWS FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()"
                           " AND TABLE_NAME = %s", [table])
            row = cursor.fetchone()
            if row and row[0]:
                return int(row[0])
        cursor.execute(f"SELECT COUNT(*) FROM {connection.ops.quote_name(table)}")
        return int(cursor.fetchone()[0])
