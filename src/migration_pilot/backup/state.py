"""Facts read from a live database: versions, the applied migration set, table fingerprints.

Fingerprints are what `verify` compares between the live database and a
scratch restore: per table, a row count and an order-independent content hash
(the sum of each row's SHA-256 modulo 2**256), so no ORDER BY is needed and
tables without a primary key work too.
"""

from __future__ import annotations

import contextlib
import hashlib
import sqlite3
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

from django.db import DatabaseError, connections, transaction
from django.db.utils import ConnectionHandler

_MODULUS: Final = 1 << 256
SUPPORTED: Final = frozenset({"postgresql", "mysql", "sqlite"})


@dataclass(frozen=True, slots=True)
class TableFingerprint:
    """Row count and content hash of one table."""

    rows: int
    content: str


@dataclass(frozen=True, slots=True)
class MigrationState:
    """Where a database is: applied migrations, and how that compares with the code."""

    applied: list[tuple[str, str]]
    pending: list[tuple[str, str]]
    unknown: list[tuple[str, str]]

    def latest_by_app(self) -> dict[str, str]:
        """The last applied migration name of each app (names sort in order within an app)."""
        latest: dict[str, str] = {}
        for app, name in sorted(self.applied):
            latest[app] = name
        return latest


def server_version(connection: Any) -> str:
    """'15.20', '10.11.19-MariaDB-...', or the SQLite library version."""
    if connection.vendor == "sqlite":
        return sqlite3.sqlite_version
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version" if connection.vendor == "postgresql" else "SELECT VERSION()")
        return str(cursor.fetchone()[0]).split(" ")[0]


def server_major(connection: Any) -> int:
    """PostgreSQL's major version (server_version_num // 10000)."""
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version_num")
        return int(cursor.fetchone()[0]) // 10000


def applied_migrations(connection: Any) -> list[list[str]]:
    """The rows of django_migrations as sorted [app, name] pairs (empty when the table is missing)."""
    from django.db.migrations.recorder import MigrationRecorder

    recorder = MigrationRecorder(connection)
    if not recorder.has_table():
        return []
    return [[app, name] for app, name in sorted(recorder.applied_migrations())]


def migration_state(connection: Any) -> MigrationState:
    """Applied migrations of `connection`, and the ones the code has that it lacks (and vice versa)."""
    from django.db.migrations.loader import MigrationLoader

    loader = MigrationLoader(connection, ignore_no_migrations=True)
    applied = set(loader.applied_migrations or {})
    nodes = set(loader.graph.nodes)
    replaced = {key for migration in loader.disk_migrations.values() for key in (migration.replaces or [])}
    return MigrationState(applied=sorted(applied), pending=sorted(nodes - applied),
                          unknown=sorted(applied - nodes - replaced))


@contextlib.contextmanager
def temporary_alias(settings: Mapping[str, Any]) -> Iterator[Any]:
    """A Django connection registered under a throwaway alias for another database; closed and removed after."""
    alias = f"pilot_tmp_{uuid.uuid4().hex[:8]}"
    connections.settings[alias] = ConnectionHandler({"default": dict(settings)}).settings["default"]
    connection = connections[alias]
    try:
        yield connection
    finally:
        connection.close()
        del connections[alias]
        del connections.settings[alias]


def database_settings(alias: str, name: str | None = None) -> dict[str, Any]:
    """A copy of the alias's DATABASES entry, optionally naming another database on the same server."""
    settings = dict(connections[alias].settings_dict)
    if name is not None:
        settings["NAME"] = name
    settings.pop("TEST", None)
    return settings


def _normalise(value: Any) -> Any:
    if isinstance(value, memoryview):
        return bytes(value)
    if isinstance(value, bytearray):
        return bytes(value)
    return value


LARGE_OBJECTS: Final = "(large objects)"
"""PostgreSQL: the name under which table_fingerprints() reports the large objects."""


def table_fingerprints(connection: Any) -> dict[str, TableFingerprint]:
    """Row count and content hash of every table (views excluded); PostgreSQL's large objects as one more (F4)."""
    with connection.cursor() as cursor:
        tables = sorted(info.name for info in connection.introspection.get_table_list(cursor)
                        if info.type == "t")
    found = {}
    for table in tables:
        total = 0
        rows = 0
        with transaction.atomic(using=connection.alias), connection.chunked_cursor() as cursor:
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")
            while batch := cursor.fetchmany(2000):
                for row in batch:
                    encoded = repr(tuple(_normalise(v) for v in row)).encode("utf-8", "surrogatepass")
                    total = (total + int.from_bytes(hashlib.sha256(encoded).digest(), "big")) % _MODULUS
                    rows += 1
        found[table] = TableFingerprint(rows, f"{total:064x}")
    if connection.vendor == "postgresql":
        found[LARGE_OBJECTS] = _large_objects(connection)
    return found


def _large_objects(connection: Any) -> TableFingerprint:
    """Count and content hash of the large objects (a dump can hold tables and miss them, F4).

    A role that may not read some large object gets their count only (the
    same on both sides of a verify, since a restore keeps their owners).
    """
    try:
        with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
            cursor.execute("SELECT count(*), coalesce(md5(string_agg(oid::text || ':' || md5(lo_get(oid)), ','"
                           " ORDER BY oid)), '') FROM pg_largeobject_metadata")
            rows, digest = cursor.fetchone()
    except DatabaseError:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_largeobject_metadata")
            rows, digest = cursor.fetchone()[0], "count only"
    return TableFingerprint(int(rows), str(digest))
