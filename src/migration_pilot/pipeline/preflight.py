"""Checks before a deploy touches anything: the alias, the connection, sessions in the way."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connections
from django.db.utils import Error as DatabaseError

from migration_pilot.exceptions import PilotError, UnknownDatabaseError


class DatabaseUnreachableError(PilotError, ConnectionError):
    """The database of an alias cannot be reached."""

    def __init__(self, alias: str, where: str, reason: str) -> None:
        self.alias, self.where, self.reason = alias, where, reason

    def __str__(self) -> str:
        return (
            f"Cannot connect to database alias {self.alias!r} at {self.where}: {self.reason}."
            " Check that the server is running and the DATABASES settings."
        )


class InMemoryDatabaseError(PilotError, ValueError):
    """The alias is an in-memory SQLite database: empty when a command starts, gone when it ends."""

    def __init__(self, alias: str, name: str) -> None:
        self.alias, self.name = alias, name

    def __str__(self) -> str:
        return (
            f"Database alias {self.alias!r} is an in-memory SQLite database ({self.name!r}): it is empty when"
            " the command starts and gone when it ends, so there is nothing to deploy to, back up or verify."
            f" Set DATABASES[{self.alias!r}]['NAME'] to a file path."
        )


def require_alias(alias: str) -> None:
    """Fail with the list of aliases when `alias` is not configured."""
    if alias not in settings.DATABASES:
        raise UnknownDatabaseError(alias, known=settings.DATABASES)


def connect(alias: str) -> Any:
    """The alias's connection, opened; a one-line error (never the password) when it fails."""
    require_alias(alias)
    connection = connections[alias]
    name = connection.settings_dict.get("NAME")
    # A new in-memory database is empty and dies with this process. One already open in this process (a
    # test calling the command in-process, on pytest-django's in-memory test database) holds real data.
    if (connection.vendor == "sqlite" and isinstance(name, str) and connection.creation.is_in_memory_db(name)
            and connection.connection is None):
        raise InMemoryDatabaseError(alias, name)
    try:
        connection.ensure_connection()
    except DatabaseError as exc:
        params = connection.settings_dict
        where = params.get("NAME") if connection.vendor == "sqlite" else (
            f"{params.get('HOST') or 'localhost'}:{params.get('PORT') or 'default port'}")
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        password = str(params.get("PASSWORD") or "")
        if password:
            reason = reason.replace(password, "***")
        raise DatabaseUnreachableError(alias, str(where), reason) from None
    from migration_pilot.pipeline.privileges import check_history_readable

    check_history_readable(connection)
    return connection


@dataclass(frozen=True, slots=True)
class Blocker:
    """A session that holds a lock on, or sits idle in a transaction over, a planned table."""

    pid: int
    state: str
    since: str
    query: str
    tables: tuple[str, ...]
    application: str = ""

    def describe(self) -> str:
        """One line for the report; the application name tells a pg_dump or a worker apart (A7)."""
        where = f" on {', '.join(self.tables)}" if self.tables else ""
        query = " ".join(self.query.split())[:80] or "(no statement running)"
        who = f" {self.application}" if self.application else ""
        return f"pid {self.pid}{who} ({self.state}, transaction since {self.since}){where}: {query}"


def find_blockers(connection: Any, tables: Iterable[str]) -> list[Blocker]:
    """PostgreSQL sessions other than ours holding locks on `tables` (empty elsewhere)."""
    names = sorted(set(tables))
    if connection.vendor != "postgresql" or not names:
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT a.pid, a.state, a.xact_start::text, coalesce(a.query, ''),"
            " array_agg(DISTINCT c.relname ORDER BY c.relname), coalesce(a.application_name, '')"
            " FROM pg_locks l JOIN pg_class c ON c.oid = l.relation"
            " JOIN pg_stat_activity a ON a.pid = l.pid"
            " WHERE c.relname = ANY(%s) AND l.pid <> pg_backend_pid() AND a.backend_type = 'client backend'"
            # pg_class is per database: a lock on another database's relation can carry the same oid.
            " AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            " GROUP BY a.pid, a.state, a.xact_start, a.query, a.application_name ORDER BY a.xact_start",
            [names],
        )
        return [Blocker(pid, state or "?", since or "?", query, tuple(rels), application)
                for pid, state, since, query, rels, application in cursor.fetchall()]


def lock_holders(connection: Any, tables: Iterable[str]) -> list[Blocker]:
    """The sessions most likely behind a lock timeout on `tables`, for the failure message (A4, A5).

    PostgreSQL names the sessions holding locks on the tables themselves.
    MySQL/MariaDB keep metadata locks out of reach without a plugin, so every
    other session with an open InnoDB transaction is named: an open
    transaction that has read a table holds its metadata lock until it ends.
    """
    if connection.vendor == "postgresql":
        return find_blockers(connection, tables)
    if connection.vendor != "mysql":
        return []
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT t.trx_mysql_thread_id, p.COMMAND, CAST(t.trx_started AS CHAR), coalesce(p.INFO, '')"
                " FROM information_schema.innodb_trx t"
                " JOIN information_schema.processlist p ON p.ID = t.trx_mysql_thread_id"
                " WHERE t.trx_mysql_thread_id <> CONNECTION_ID() ORDER BY t.trx_started")
            rows = cursor.fetchall()
    except DatabaseError:  # no PROCESS privilege: the message simply names nobody
        return []
    return [Blocker(int(pid), "idle in transaction" if command == "Sleep" else "active", str(since), query, ())
            for pid, command, since, query in rows]


def wait_for_blockers(connection: Any, tables: Iterable[str], *, bound: float,
                      report: Callable[[list[Blocker]], None]) -> list[Blocker]:
    """Wait up to `bound` seconds for blockers to finish; never kills them. Returns what remains."""
    table_list = list(tables)
    return wait_until_gone(lambda: find_blockers(connection, table_list), bound=bound, report=report)


def wait_until_gone(find: Callable[[], list[Blocker]], *, bound: float,
                    report: Callable[[list[Blocker]], None]) -> list[Blocker]:
    """Report what `find` returns, then poll it for up to `bound` seconds. Returns what remains."""
    deadline = time.monotonic() + bound
    found = find()
    if found:
        report(found)
    while found and time.monotonic() < deadline:
        time.sleep(min(0.5, max(0.0, deadline - time.monotonic())))
        found = find()
    return found


APPLICATION = "migration-pilot"
"""application_name prefix of the deploy's sessions on PostgreSQL: `migration-pilot deploy`, `... lock`."""


@contextlib.contextmanager
def named_session(connection: Any, kind: str) -> Iterator[None]:
    """Name the migration session `migration-pilot <kind>` for the block (PostgreSQL), then restore it.

    pg_stat_activity then tells anyone (and the next deploy) which backend is
    the deploy's, also after the deploy process died while its backend went on
    running a statement.
    """
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('application_name'), set_config('application_name', %s, false)",
                       [f"{APPLICATION} {kind}"])
        previous = cursor.fetchone()[0]
    try:
        yield
    finally:
        if connection.connection is not None and not connection.needs_rollback:
            with contextlib.suppress(Exception), connection.cursor() as cursor:
                cursor.execute("SELECT set_config('application_name', %s, false)", [previous])


def orphaned_backends(connection: Any) -> list[Blocker]:
    """Backends of an earlier deploy of this database still running a statement after their process died (C1).

    While we hold the deploy lock no other deploy is alive, so a busy session
    named like ours can only be a dead deploy's: PostgreSQL notices a vanished
    client only when the statement ends, and until then it holds its locks, and
    a COMMIT in flight may still land.
    """
    if connection.vendor != "postgresql":
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid, state, coalesce(xact_start::text, '?'), coalesce(query, ''), application_name"
            " FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            " AND application_name IN (%s, %s) AND state <> 'idle'",
            [f"{APPLICATION} deploy", f"{APPLICATION} rollback"])
        return [Blocker(pid, state or "?", since, query, (), application)
                for pid, state, since, query, application in cursor.fetchall()]
