"""MySQL/MariaDB: mariadb-dump or mysqldump --single-transaction, restored with the client.

--single-transaction gives one consistent InnoDB snapshot without locking
writers; routines and triggers come along. The dump names no database (no
--databases), so it restores into any database: the original, another alias,
or a new one. The client reads the file on stdin, fed by us so progress can
be measured; tables the live database has and the dump lacks are dropped
afterwards, so the database ends at the backup's state. MySQL commits each
DDL statement, so a failed restore cannot be rolled back: the error says so.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Final

from migration_pilot.backup import credentials, tools
from migration_pilot.backup.errors import BackupError, CorruptBackupError, RestoreError
from migration_pilot.backup.progress import Meter, bytes_on_disk

TRAILER: Final = b"-- Dump completed"
_OBJECT: Final = re.compile(
    rb"^-- (?:Table structure for table|Temporary (?:table|view) structure for view|Final view structure for view)"
    rb" `((?:[^`]|``)+)`",
    re.MULTILINE)


@dataclass(frozen=True, slots=True)
class Tools:
    """Resolved dump and client binaries."""

    dump: Path
    client: Path
    versions: dict[str, str]


def find_tools() -> Tools:
    """mariadb-dump/mysqldump and mariadb/mysql from PATH."""
    dump_tool = tools.find_tool(["mariadb-dump", "mysqldump"], vendor="mysql")
    client = tools.find_tool(["mariadb", "mysql"], vendor="mysql")
    return Tools(dump_tool, client, {dump_tool.name: tools.tool_version(dump_tool),
                                     client.name: tools.tool_version(client)})


def dump(settings: Mapping[str, Any], found: Tools, dest_fd: int, dest: Path, *, meter: Meter) -> tuple[str, str]:
    """Dump the database of `settings` into the open file `dest_fd`; returns (format, compression)."""
    name = str(settings["NAME"])
    with credentials.mysql(settings) as creds:
        argv = [str(found.dump), *creds.leading_args, "--single-transaction", "--routines", "--triggers",
                "--hex-blob", "--no-tablespaces", "--default-character-set=utf8mb4", "--skip-dump-date", name]
        run = tools.run_tool(argv, env=tools.child_env({}), secrets=creds.secrets, stdout=dest_fd,
                             poll=lambda _: meter.update(bytes_on_disk(dest)))
    if run.returncode != 0:
        hint = ("Free disk space in the backup directory or point --dir elsewhere." if "space" in run.stderr.lower()
                else "Check the server and the DATABASES settings; nothing was kept.")
        raise BackupError(f"{found.dump.name} failed for database {name!r}: {run.last_error()}", hint=hint)
    os.fsync(dest_fd)
    check_archive(dest)
    return "mysql-sql", "none"


def check_archive(path: Path) -> None:
    """Refuse a dump that does not end with the dump tool's completion trailer (truncated, F2/G5)."""
    size = path.stat().st_size
    with open(path, "rb") as handle:
        head = handle.read(200)
        handle.seek(max(0, size - 200))
        tail = handle.read()
    if b"MariaDB dump" not in head and b"MySQL dump" not in head:
        raise CorruptBackupError(f"{path.name} is not a mariadb-dump/mysqldump file.", hint="Refusing to restore it.")
    if TRAILER not in tail:
        raise CorruptBackupError(f"{path.name} does not end with '-- Dump completed': it is truncated.",
                                 hint="Refusing to restore it.")


def restore(settings: Mapping[str, Any], found: Tools, path: Path, *, meter: Meter) -> set[str]:
    """Feed the dump to the client; returns the names of the tables and views it holds."""
    name = str(settings["NAME"])
    objects: set[str] = set()

    def feed(pipe: IO[bytes]) -> None:
        done = 0
        tail = b""
        with open(path, "rb") as handle:
            while chunk := handle.read(1 << 20):
                pipe.write(chunk)
                done += len(chunk)
                meter.update(done)
                text = tail + chunk
                cut = text.rfind(b"\n") + 1
                objects.update(m.replace(b"``", b"`").decode("utf-8") for m in _OBJECT.findall(text[:cut]))
                tail = text[cut:]
        objects.update(m.replace(b"``", b"`").decode("utf-8") for m in _OBJECT.findall(tail))

    with credentials.mysql(settings) as creds:
        argv = [str(found.client), *creds.leading_args, "--default-character-set=utf8mb4", "--binary-mode",
                f"--database={name}"]
        run = tools.run_tool(argv, env=tools.child_env({}), secrets=creds.secrets, feed=feed)
    if run.returncode != 0:
        raise RestoreError(f"{found.client.name} failed restoring into database {name!r}: {run.last_error()}",
                           hint="MySQL commits each DDL statement, so the database may be part-restored:"
                                " restore again once the cause is fixed.")
    return objects


def drop_extra_tables(connection: Any, keep: set[str]) -> list[str]:
    """Drop the tables and views the backup does not have (FK checks off for this session)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT TABLE_NAME, TABLE_TYPE FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()")
        extras = [(name, kind) for name, kind in cursor.fetchall() if name not in keep]
        if not extras:
            return []
        cursor.execute("SET FOREIGN_KEY_CHECKS = 0")
        try:
            for name, kind in extras:
                keyword = "VIEW" if kind == "VIEW" else "TABLE"
                cursor.execute(f"DROP {keyword} IF EXISTS {connection.ops.quote_name(name)}")
        finally:
            cursor.execute("SET FOREIGN_KEY_CHECKS = 1")
    return [name for name, _ in extras]


def create_database(connection: Any, name: str) -> None:
    """CREATE DATABASE name with utf8mb4."""
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE {connection.ops.quote_name(name)} CHARACTER SET utf8mb4")


def drop_database(connection: Any, name: str) -> None:
    """DROP DATABASE name (scratch databases only)."""
    with connection.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS {connection.ops.quote_name(name)}")


def database_exists(connection: Any, name: str) -> bool:
    """Whether the server has a database (schema) called `name`."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s", [name])
        return cursor.fetchone() is not None
