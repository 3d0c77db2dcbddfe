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

import contextlib
import os
import queue
import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from migration_pilot.testing.errors import SnapshotError

SNAPSHOT_MARK = "_mpsnap_"
TRASH_BATCH = 24
"""Databases a test dirtied wait for this many to be dropped together (one checkpoint on PostgreSQL)."""


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

    consumable = False
    """True when restore(consume=True) can hand the snapshot itself to the test instead of copying it."""

    latest: Any = None

    def take(self) -> Any:
        """Copy the database as it is now; returns a handle for restore()."""
        return None

    def restore(self, handle: Any, *, consume: bool = False) -> None:
        """Make the database exactly the copy `handle` holds (with consume=True, the handle is used up)."""
        raise NotImplementedError

    def keep_latest(self) -> None:
        """Before a test changes the database (at its latest migrations): keep a way to bring it back."""
        if self.latest is None:
            self.latest = self.take()

    def make_scratch(self) -> None:
        """The database is about to be emptied and migrated in place: keep the latest one aside first."""
        self.keep_latest()

    def bring_back_latest(self) -> None:
        """Make the database the one keep_latest() kept, untouched by any test."""
        self.restore(self.latest)

    def close(self, *, with_database: bool = False) -> bool:
        """Free what this store holds (the latest copy, background work).

        with_database=True offers to drop the test database itself along with the snapshots;
        returns True when it did (then the caller must not drop it again).
        """
        if self.latest is not None:
            self.drop(self.latest)
            self.latest = None
        return False

    def drop(self, handle: Any) -> None:
        """Forget one snapshot and free its storage."""

    def discard(self, handle: Any) -> None:
        """Drop a snapshot, possibly later (before close() returns)."""
        self.drop(handle)

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

    def restore(self, handle: sqlite3.Connection, *, consume: bool = False) -> None:
        raw = self._raw()
        if raw.in_transaction:
            raw.commit()
        handle.backup(raw)

    def drop(self, handle: sqlite3.Connection) -> None:
        handle.close()


class PostgreSQLSnapshots(SnapshotStore):
    """Template databases, and renames instead of copies wherever a copy is not needed.

    - a snapshot is `CREATE DATABASE snap TEMPLATE test_db`;
    - the latest database is not copied: the first restore renames it aside ("parks" it)
      and bring_back_latest() renames it back, so nobody ever wrote to it meanwhile;
    - a snapshot no later test needs is renamed into place instead of copied (consume);
    - databases a test dirtied are renamed away and dropped in batches by a background thread.
    """

    supported = True
    consumable = True

    def __init__(self, connection: Any) -> None:
        super().__init__(connection)
        self.parked: str | None = None
        self.trash: queue.Queue[list[str] | None] = queue.Queue()
        self.pending: list[str] = []
        self.dropper: threading.Thread | None = None

    def _name(self, kind: str = "") -> str:
        self.counter += 1
        return f"{self.database[:40]}{SNAPSHOT_MARK}{os.getpid()}_{self.counter}{kind}"

    def _admin(self, *statements: str) -> None:
        self.connection.close()
        with self.connection._nodb_cursor() as cursor:
            for statement in statements:
                cursor.execute(statement)

    def _strategy(self) -> str:
        # WAL_LOG (the default from 15) copies through shared buffers with no checkpoint: measured
        # 0.12-0.8 s for an oscar-sized database against 0.3-2.8 s for FILE_COPY on a busy server.
        return ""

    def take(self) -> str:
        name = self._name()
        quote = self.connection.ops.quote_name
        strategy = self._strategy()
        self._admin(f"CREATE DATABASE {quote(name)} TEMPLATE {quote(self.database)}{strategy}")
        return name

    def _clear_place(self) -> list[str]:
        """Statements that move the current test database out of the way (parked, or to the trash)."""
        quote = self.connection.ops.quote_name
        aside = self._name("_park" if self.parked is None else "_trash")
        if self.parked is None:
            self.parked = aside
        else:
            self._throw_away(aside)
        return [f"ALTER DATABASE {quote(self.database)} RENAME TO {quote(aside)}"]

    def restore(self, handle: str, *, consume: bool = False) -> None:
        quote = self.connection.ops.quote_name
        statements = self._clear_place()
        if consume:
            statements.append(f"ALTER DATABASE {quote(handle)} RENAME TO {quote(self.database)}")
        else:
            statements.append(
                f"CREATE DATABASE {quote(self.database)} TEMPLATE {quote(handle)}{self._strategy()}")
        self._admin(*statements)

    def keep_latest(self) -> None:
        """Nothing to copy: the first restore parks the latest database by renaming it."""

    def make_scratch(self) -> None:
        if self.parked is None:
            quote = self.connection.ops.quote_name
            statements = self._clear_place()
            self._admin(*statements, f"CREATE DATABASE {quote(self.database)} TEMPLATE {quote(self.parked)}"
                                     f"{self._strategy()}")

    def bring_back_latest(self) -> None:
        if self.parked is None:
            return
        quote = self.connection.ops.quote_name
        trash = self._name("_trash")
        self._admin(f"ALTER DATABASE {quote(self.database)} RENAME TO {quote(trash)}",
                    f"ALTER DATABASE {quote(self.parked)} RENAME TO {quote(self.database)}")
        self.parked = None
        self._throw_away(trash)

    def _throw_away(self, name: str) -> None:
        """Drop `name` later: with the next batch of TRASH_BATCH, or at close()."""
        self.pending.append(name)
        if len(self.pending) >= TRASH_BATCH:
            self._hand_over()

    def _hand_over(self) -> None:
        if not self.pending:
            return
        if self.dropper is None:
            self.dropper = threading.Thread(target=self._drop_worker, name="migration-pilot-drop", daemon=True)
            self.dropper.start()
        self.trash.put(self.pending)
        self.pending = []

    def _drop_worker(self) -> None:
        # PostgreSQL 15 checkpoints on every DROP DATABASE, but drops running at the same time share
        # one checkpoint: a batch is dropped at once, each on its own connection, in the background.
        while (batch := self.trash.get()) is not None:
            with ThreadPoolExecutor(max_workers=min(len(batch), 16)) as pool:
                list(pool.map(self._drop_now, batch))

    def _drop_now(self, name: str) -> None:
        # A driver connection of its own: Django's are per thread and pytest-django may block them.
        params = {**self.connection.get_connection_params(), "dbname": "postgres"}
        with contextlib.suppress(Exception):
            raw = self.connection.Database.connect(**params)
            try:
                raw.autocommit = True
                with raw.cursor() as cursor:
                    cursor.execute(f"DROP DATABASE IF EXISTS {self.connection.ops.quote_name(name)} WITH (FORCE)")
            finally:
                raw.close()

    def discard(self, handle: str) -> None:
        self._throw_away(handle)

    def drop(self, handle: str) -> None:
        self._admin(f"DROP DATABASE IF EXISTS {self.connection.ops.quote_name(handle)} WITH (FORCE)")

    def close(self, *, with_database: bool = False) -> bool:
        # Every DROP DATABASE costs PostgreSQL 15 a checkpoint (0.4-0.8 s measured under load) unless
        # it runs at the same time as the others: with_database puts the test database (and the
        # parked latest one, with no rename back) in the final batch instead of a drop of its own.
        if with_database:
            self.connection.close()
            self.pending.extend(name for name in (self.parked, self.database) if name)
            self.parked = None
        else:
            self.bring_back_latest()
        self._hand_over()
        if self.dropper is not None:
            self.trash.put(None)
            self.dropper.join()
            self.dropper = None
        return with_database

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

    def restore(self, handle: str, *, consume: bool = False) -> None:
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
