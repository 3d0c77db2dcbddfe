"""Whole-database snapshots of a test database, one per migration state, for the session.

Restoring a snapshot is how a migration test starts at its target and how the
database gets back to the latest migrations afterwards, instead of replaying
migrations (and re-rendering model states) from zero for every test.

- SQLite: the backup API, into an in-memory database held by this process.
- PostgreSQL: `CREATE DATABASE snapshot TEMPLATE test_db`; restoring drops the
  test database and creates it again from the snapshot.
- MySQL/MariaDB: a schema copy (`SHOW CREATE TABLE` replayed in a snapshot
  schema, then `INSERT ... SELECT`), and the same the other way to restore.

Only test databases are touched: a name that does not look like Django's test
database (``test_`` prefix or TEST NAME) is refused.
"""

from __future__ import annotations

import os
import sqlite3
from typing import Any

from migration_pilot.testing.errors import SnapshotError

SNAPSHOT_MARK = "_mpsnap_"


def _is_test_database(connection: Any) -> bool:
    name = str(connection.settings_dict.get("NAME") or "")
    test_name = (connection.settings_dict.get("TEST") or {}).get("NAME")
    if connection.vendor == "sqlite":
        return connection.is_in_memory_db() or name == test_name or os.path.basename(name).startswith("test_")
    return name.startswith("test_") or (test_name is not None and name == test_name)


class SnapshotStore:
    """Takes and restores snapshots of one connection's database; `None` handles mean unsupported."""

    supported = False

    def __init__(self, connection: Any) -> None:
        self.connection = connection
        self.database = str(connection.settings_dict.get("NAME") or "")
        self.counter = 0

    def check(self) -> None:
        """Refuse to touch a database that is not a test database."""
        if not _is_test_database(self.connection):
            raise SnapshotError(self.database, "it is not a test database (no test_ prefix, not TEST NAME)",
                                hint="Run migration tests only against the database the test runner created.")

    def take(self) -> Any:
        """Copy the database as it is now; returns a handle for restore()."""
        return None

    def restore(self, handle: Any) -> None:
        """Make the database exactly the copy `handle` holds."""
        raise NotImplementedError

    def drop(self, handle: Any) -> None:
        """Forget one snapshot and free its storage."""

    def drop_stale(self) -> None:
        """Remove snapshots an interrupted earlier session left behind."""


class SQLiteSnapshots(SnapshotStore):
    """SQLite's online backup API, into and out of private in-memory databases."""

    supported = True

    def _raw(self) -> sqlite3.Connection:
        self.connection.ensure_connection()
        raw: sqlite3.Connection = self.connection.connection
        return raw

    def take(self) -> sqlite3.Connection:
        copy = sqlite3.connect(":memory:", check_same_thread=False)
        self._raw().backup(copy)
        return copy

    def restore(self, handle: sqlite3.Connection) -> None:
        raw = self._raw()
        if raw.in_transaction:
            raw.commit()
        handle.backup(raw)

    def drop(self, handle: sqlite3.Connection) -> None:
        handle.close()


class PostgreSQLSnapshots(SnapshotStore):
    """Template databases: a copy of the files, no SQL replay."""

    supported = True

    def _name(self) -> str:
        self.counter += 1
        return f"{self.database[:40]}{SNAPSHOT_MARK}{os.getpid()}_{self.counter}"

    def _admin(self, *statements: str) -> None:
        self.connection.close()
        with self.connection._nodb_cursor() as cursor:
            for statement in statements:
                cursor.execute(statement)

    def take(self) -> str:
        name = self._name()
        quote = self.connection.ops.quote_name
        self._admin(f"CREATE DATABASE {quote(name)} TEMPLATE {quote(self.database)}")
        return name

    def restore(self, handle: str) -> None:
        quote = self.connection.ops.quote_name
        self._admin(f"DROP DATABASE IF EXISTS {quote(self.database)} WITH (FORCE)",
                    f"CREATE DATABASE {quote(self.database)} TEMPLATE {quote(handle)}")

    def drop(self, handle: str) -> None:
        self._admin(f"DROP DATABASE IF EXISTS {self.connection.ops.quote_name(handle)} WITH (FORCE)")

    def drop_stale(self) -> None:
        pattern = f"{self.database[:40]}{SNAPSHOT_MARK}%"
        with self.connection._nodb_cursor() as cursor:
            cursor.execute("SELECT datname FROM pg_database WHERE datname LIKE %s", [pattern])
            names = [row[0] for row in cursor.fetchall()]
            for name in names:
                pid = name.rsplit(SNAPSHOT_MARK, 1)[1].split("_")[0]
                if pid.isdigit() and not _alive(int(pid)):
                    cursor.execute(f"DROP DATABASE IF EXISTS {self.connection.ops.quote_name(name)} WITH (FORCE)")


class MySQLSnapshots(SnapshotStore):
    """A schema copy: each table's CREATE TABLE replayed in a snapshot schema, then its rows."""

    supported = True

    def _tables(self, cursor: Any, schema: str) -> list[str]:
        cursor.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = %s"
                       " AND table_type = 'BASE TABLE'", [schema])
        return sorted(row[0] for row in cursor.fetchall())

    def _copy(self, source: str, target: str, *, clear_target: bool) -> None:
        quote = self.connection.ops.quote_name
        with self.connection.cursor() as cursor:
            cursor.execute("SET FOREIGN_KEY_CHECKS = 0")
            try:
                if clear_target:
                    for table in self._tables(cursor, target):
                        cursor.execute(f"DROP TABLE {quote(target)}.{quote(table)}")
                for table in self._tables(cursor, source):
                    cursor.execute(f"SHOW CREATE TABLE {quote(source)}.{quote(table)}")
                    ddl = cursor.fetchone()[1]
                    cursor.execute(f"USE {quote(target)}")
                    cursor.execute(ddl)
                    cursor.execute(f"INSERT INTO {quote(target)}.{quote(table)}"
                                   f" SELECT * FROM {quote(source)}.{quote(table)}")
            finally:
                cursor.execute(f"USE {quote(self.database)}")
                cursor.execute("SET FOREIGN_KEY_CHECKS = 1")

    def take(self) -> str:
        self.counter += 1
        name = f"{self.database[:40]}{SNAPSHOT_MARK}{os.getpid()}_{self.counter}"
        with self.connection.cursor() as cursor:
            cursor.execute(f"CREATE DATABASE {self.connection.ops.quote_name(name)}")
        self._copy(self.database, name, clear_target=False)
        return name

    def restore(self, handle: str) -> None:
        self._copy(handle, self.database, clear_target=True)

    def drop(self, handle: str) -> None:
        with self.connection.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS {self.connection.ops.quote_name(handle)}")

    def drop_stale(self) -> None:
        pattern = f"{self.database[:40]}{SNAPSHOT_MARK}%"
        with self.connection.cursor() as cursor:
            cursor.execute("SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE %s",
                           [pattern])
            for (name,) in cursor.fetchall():
                pid = name.rsplit(SNAPSHOT_MARK, 1)[1].split("_")[0]
                if pid.isdigit() and not _alive(int(pid)):
                    cursor.execute(f"DROP DATABASE IF EXISTS {self.connection.ops.quote_name(name)}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def store_for(connection: Any) -> SnapshotStore:
    """The snapshot store for this connection's vendor (a no-op store for unknown vendors)."""
    cls = {"sqlite": SQLiteSnapshots, "postgresql": PostgreSQLSnapshots,
           "mysql": MySQLSnapshots}.get(connection.vendor, SnapshotStore)
    return cls(connection)
