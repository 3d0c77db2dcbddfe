"""One deploy at a time per database: a lock held for the whole pipeline.

PostgreSQL: a session advisory lock on a dedicated connection that stays idle
outside any transaction (so CREATE INDEX CONCURRENTLY never waits on it, A8);
it dies with the session, so a killed deploy never leaves it behind.
MySQL/MariaDB: GET_LOCK on a dedicated connection. SQLite: an OS file lock on
a sidecar file. The key is a stable function of the database name (never
Python's randomised hash), so every release of the tool excludes every other
(A2).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from migration_pilot.exceptions import PilotError

LOCK_NAMESPACE = "django-migration-pilot deploy"


class DeployLockedError(PilotError, RuntimeError):
    """Another deploy holds the database's deploy lock; nothing was changed (exit 1, refused)."""

    exit_code = 1

    def __init__(self, database: str, waited: float, holder: str) -> None:
        self.database = database
        self.waited = waited
        self.holder = holder

    def __str__(self) -> str:
        return (
            f"Another deploy holds the deploy lock of database {self.database!r} ({self.holder});"
            f" gave up after waiting {self.waited:g}s. Wait for it to finish, or pass a longer --wait."
        )


class PoolerDetectedError(PilotError, RuntimeError):
    """The connection goes through a transaction-pooling proxy such as PgBouncer."""

    def __str__(self) -> str:
        return (
            "The database connection goes through a transaction-pooling proxy (PgBouncer or"
            " similar): consecutive transactions ran on different server sessions, so a session"
            " lock and session timeouts would be lost. Point the deploy at the database directly"
            " (a separate DATABASES alias, e.g. --database migrations)."
        )


def advisory_key(database_name: str) -> int:
    """Stable signed 64-bit key for `database_name` (golden-tested; never Python's hash())."""
    digest = hashlib.sha256(f"{LOCK_NAMESPACE}:{database_name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def mysql_lock_name(database_name: str) -> str:
    """GET_LOCK name: at most 64 characters, stable per database."""
    digest = hashlib.sha256(database_name.encode()).hexdigest()[:16]
    return f"pilot_deploy:{database_name[:30]}:{digest}"


@dataclass
class HeldLock:
    """A deploy lock this process holds; `release()` frees it."""

    vendor: str
    handle: Any
    key: str

    def release(self) -> bool:
        """Free the lock; False when the database says it was not ours to free (A3).

        PostgreSQL's pg_advisory_unlock and MySQL's RELEASE_LOCK answer whether
        this session held the lock. A "no" means the lock was lost on the way
        (a proxy moved the session, the server restarted): the caller reports
        it instead of pretending all went well. Closing the connection frees
        whatever the session still holds either way.
        """
        if self.vendor == "sqlite":
            fcntl.flock(self.handle, fcntl.LOCK_UN)
            self.handle.close()
            return True
        released = False
        try:
            cursor = self.handle.cursor()
            if self.vendor == "postgresql":
                cursor.execute("SELECT pg_advisory_unlock(%s)", [int(self.key)])
            else:
                cursor.execute("SELECT RELEASE_LOCK(%s)", [self.key])
            released = cursor.fetchone()[0] in (True, 1)
            cursor.close()
        except Exception:  # the connection is gone: so is the lock it held
            released = False
        with contextlib.suppress(Exception):
            self.handle.close()
        return released


def new_raw_connection(connection: Any) -> Any:
    """A second, independent DB-API connection with the alias's own settings and driver."""
    params = connection.get_connection_params()
    raw = connection.get_new_connection(params)
    if connection.vendor == "postgresql":
        raw.autocommit = True
    elif connection.vendor == "mysql":
        raw.autocommit(True)
    return raw


def acquire(connection: Any, *, wait: float, poll: float = 0.25) -> HeldLock:
    """Take the deploy lock of `connection`'s database, waiting up to `wait` seconds."""
    vendor = connection.vendor
    name = str(connection.settings_dict["NAME"])
    deadline = time.monotonic() + wait
    if vendor == "sqlite":
        path = Path(f"{name}.pilot-lock") if name and name != ":memory:" else None
        if path is None:
            handle = open(os.devnull, "w")  # noqa: SIM115 - an in-memory database has no other writer
            return HeldLock(vendor, handle, "")
        handle = open(path, "a+")  # noqa: SIM115 - held for the whole deploy
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                handle.seek(0)
                handle.truncate()
                since = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
                handle.write(f"pid {os.getpid()} on {os.uname().nodename} since {since}\n")
                handle.flush()
                return HeldLock(vendor, handle, str(path))
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    handle.seek(0)
                    holder = handle.read().strip() or "another process"
                    handle.close()
                    raise DeployLockedError(name, wait, holder) from None
                time.sleep(poll)
    raw = new_raw_connection(connection)
    key = str(advisory_key(name)) if vendor == "postgresql" else mysql_lock_name(name)
    cursor = raw.cursor()
    try:
        if vendor == "postgresql":  # so the lock's holder is recognisable in pg_stat_activity
            cursor.execute("SELECT set_config('application_name', 'migration-pilot lock', false)")
        while True:
            if vendor == "postgresql":
                cursor.execute("SELECT pg_try_advisory_lock(%s)", [int(key)])
            else:
                cursor.execute("SELECT GET_LOCK(%s, 0)", [key])
            if cursor.fetchone()[0] in (True, 1):
                return HeldLock(vendor, raw, key)
            if time.monotonic() >= deadline:
                holder = _holder(cursor, vendor, key)
                raise DeployLockedError(name, wait, holder)
            time.sleep(poll)
    except BaseException:
        cursor.close()
        raw.close()
        raise
    finally:
        with contextlib.suppress(Exception):
            cursor.close()


def _holder(cursor: Any, vendor: str, key: str) -> str:
    with contextlib.suppress(Exception):
        if vendor == "postgresql":
            value = int(key)
            cursor.execute(
                "SELECT a.pid, a.application_name, a.client_addr, a.backend_start FROM pg_locks l"
                " JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'advisory'"
                " AND l.granted AND l.classid = %s AND l.objid = %s"
                # Advisory locks are per database: the same key on another database is not ours.
                " AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())",
                [(value >> 32) & 0xFFFFFFFF, value & 0xFFFFFFFF],
            )
            row = cursor.fetchone()
            if row:
                return f"held by pid {row[0]} {row[1] or ''} from {row[2] or 'local socket'} since {row[3]}"
        else:
            cursor.execute("SELECT IS_USED_LOCK(%s)", [key])
            row = cursor.fetchone()
            if row and row[0]:
                return f"held by connection id {row[0]}"
    return "holder unknown"


def check_not_pooled(connection: Any) -> None:
    """Refuse a transaction-pooling proxy between us and PostgreSQL (A3).

    Two client connections open at the same time can only share a server
    backend when a proxy hands backends out per transaction; a direct or
    session-pooled connection never does. Consecutive transactions of one
    client landing on different backends prove the same. Checked a few times,
    because the proxy's choice of backend depends on its other traffic.
    """
    if connection.vendor != "postgresql":
        return
    other = new_raw_connection(connection)
    try:
        other_cursor = other.cursor()
        for _ in range(3):
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                first = cursor.fetchone()[0]
                other_cursor.execute("SELECT pg_backend_pid()")
                shared = other_cursor.fetchone()[0]
                cursor.execute("SELECT pg_backend_pid()")
                again = cursor.fetchone()[0]
            if first == shared or first != again:
                raise PoolerDetectedError()
        other_cursor.close()
    finally:
        other.close()
