"""Lock and statement timeouts on the migration connection, per vendor.

Set as session settings before each migration, so every statement the
migration runs (its DDL, RunSQL, the queries RunPython issues, and Django's
own django_migrations insert) is bounded; the previous values are restored
afterwards. One class of statement is exempt from the statement timeout on
PostgreSQL: CREATE/DROP INDEX CONCURRENTLY and REINDEX CONCURRENTLY, which
block no traffic while they run (their lock waits stay bounded). A lock
timeout is what keeps a blocked ALTER from queueing all application traffic
behind it (failure scenario A4).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from migration_pilot.exceptions import ConfigError

# The default lock timeout per vendor: the longest the application's queries may queue behind one
# attempt of a migration statement waiting for its lock (lock-queue protection). Lock timeouts are
# retried within the deploy's lock-wait budget, so a short one costs a retry, not a failed deploy.
# MySQL/MariaDB count lock_wait_timeout in whole seconds; SQLite locks the whole file and has no
# queue to protect, so it keeps a longer busy timeout.
DEFAULT_LOCK_TIMEOUT: dict[str, float] = {"postgresql": 0.1, "mysql": 1.0, "sqlite": 5.0}


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Seconds; 0 means no limit; a lock timeout of None means the vendor's default."""

    lock: float | None
    statement: float

    def for_vendor(self, vendor: str) -> Timeouts:
        """These timeouts with the vendor's default lock timeout filled in."""
        if self.lock is not None:
            return self
        return Timeouts(DEFAULT_LOCK_TIMEOUT.get(vendor, 5.0), self.statement)

    def validate(self) -> None:
        """A lock timeout at or above the statement timeout can never fire first."""
        if self.lock and self.statement and self.lock >= self.statement:
            raise ConfigError(
                f"lock timeout ({self.lock:g}s) must be shorter than statement timeout"
                f" ({self.statement:g}s), or it can never fire",
                source="--lock-timeout/--statement-timeout",
            )


@contextlib.contextmanager
def session_timeouts(connection: Any, timeouts: Timeouts) -> Iterator[None]:
    """Apply `timeouts` to the connection's session for the duration of the block."""
    vendor = connection.vendor
    if vendor == "postgresql":
        with _postgresql(connection, timeouts):
            yield
    elif vendor == "mysql":
        with _mysql(connection, timeouts):
            yield
    elif vendor == "sqlite":
        with _sqlite(connection, timeouts):
            yield
    else:
        yield


# Statements that build or drop an index without blocking reads or writes. They run outside any
# transaction and take only SHARE UPDATE EXCLUSIVE, so a statement timeout (meant to bound how long
# traffic can be blocked) would only cut short the safe way of doing the work (scenario A6).
_CONCURRENTLY = re.compile(
    r"^\s*(CREATE\s+(UNIQUE\s+)?INDEX\s+CONCURRENTLY|DROP\s+INDEX\s+CONCURRENTLY"
    r"|REINDEX\s+[^;]*\bCONCURRENTLY\b)", re.IGNORECASE)


def exempt_from_statement_timeout(sql: str) -> bool:
    """Whether `sql` is a CONCURRENTLY index statement, which the statement timeout does not bound."""
    return bool(_CONCURRENTLY.match(sql))


def _unbounded_concurrently(statement: str) -> Callable[..., Any]:
    """execute_wrapper: run CONCURRENTLY index statements with no statement timeout, then restore it.

    The lock timeout still applies: waiting for a lock is bounded as for any
    statement. Inside a transaction block such a statement fails anyway, so it
    is left alone there.
    """
    def wrapper(execute: Callable[..., Any], sql: str, params: Any, many: bool,
                context: dict[str, Any]) -> Any:
        if context["connection"].in_atomic_block or not exempt_from_statement_timeout(str(sql)):
            return execute(sql, params, many, context)
        raw = context["cursor"].cursor
        raw.execute("SELECT set_config('statement_timeout', '0', false)")
        try:
            return execute(sql, params, many, context)
        finally:
            with contextlib.suppress(Exception):
                raw.execute("SELECT set_config('statement_timeout', %s, false)", [statement])

    return wrapper


@contextlib.contextmanager
def _postgresql(connection: Any, timeouts: Timeouts) -> Iterator[None]:
    statement = f"{int(timeouts.statement * 1000)}ms"
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('lock_timeout'), current_setting('statement_timeout')")
        previous = cursor.fetchone()
        cursor.execute("SELECT set_config('lock_timeout', %s, false),"
                       " set_config('statement_timeout', %s, false)",
                       [f"{int((timeouts.lock or 0) * 1000)}ms", statement])
    exemption = (connection.execute_wrapper(_unbounded_concurrently(statement)) if timeouts.statement
                 else contextlib.nullcontext())
    try:
        with exemption:
            yield
    finally:
        if connection.connection is not None and not connection.needs_rollback:
            with contextlib.suppress(Exception), connection.cursor() as cursor:
                cursor.execute("SELECT set_config('lock_timeout', %s, false),"
                               " set_config('statement_timeout', %s, false)", list(previous))


@contextlib.contextmanager
def _mysql(connection: Any, timeouts: Timeouts) -> Iterator[None]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT @@SESSION.lock_wait_timeout, @@SESSION.innodb_lock_wait_timeout")
        previous = cursor.fetchone()
        lock = max(1, round(timeouts.lock)) if timeouts.lock else 31536000
        cursor.execute("SET SESSION lock_wait_timeout = %s, SESSION innodb_lock_wait_timeout = %s",
                       [lock, min(lock, 1073741824)])
        statement_var = "max_statement_time" if connection.mysql_is_mariadb else "max_execution_time"
        cursor.execute(f"SELECT @@SESSION.{statement_var}")
        previous_statement = cursor.fetchone()[0]
        value = timeouts.statement if connection.mysql_is_mariadb else int(timeouts.statement * 1000)
        cursor.execute(f"SET SESSION {statement_var} = %s", [value])
    try:
        yield
    finally:
        if connection.connection is not None:
            with contextlib.suppress(Exception), connection.cursor() as cursor:
                cursor.execute("SET SESSION lock_wait_timeout = %s, SESSION innodb_lock_wait_timeout = %s",
                               list(previous))
                cursor.execute(f"SET SESSION {statement_var} = %s", [previous_statement])


@contextlib.contextmanager
def _sqlite(connection: Any, timeouts: Timeouts) -> Iterator[None]:
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA busy_timeout")
        previous = cursor.fetchone()[0]
        cursor.execute(f"PRAGMA busy_timeout = {int((timeouts.lock or 0) * 1000)}")
    try:
        yield
    finally:
        if connection.connection is not None:
            with contextlib.suppress(Exception), connection.cursor() as cursor:
                cursor.execute(f"PRAGMA busy_timeout = {int(previous)}")


def is_lock_timeout(exc: BaseException) -> bool:
    """Whether `exc` (or what caused it) is the database refusing to wait longer for a lock."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        sqlstate = getattr(current, "sqlstate", None) or getattr(getattr(current, "diag", None),
                                                                 "sqlstate", None)
        if sqlstate == "55P03":  # lock_not_available
            return True
        args = getattr(current, "args", ())
        if args and isinstance(args[0], int) and args[0] in {1205, 3572}:  # MySQL lock wait timeout
            return True
        if "database is locked" in str(current):
            return True
        current = current.__cause__ or current.__context__
    return False


def sqlstate(exc: BaseException) -> str | None:
    """The SQLSTATE of a database error (or of what caused it), when the driver reports one."""
    current: BaseException | None = exc
    seen: set[int] = set()
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        state = getattr(current, "sqlstate", None) or getattr(getattr(current, "diag", None), "sqlstate", None)
        if state:
            return str(state)
        current = current.__cause__ or current.__context__
    return None
