"""Back up, restore and verify one database alias: the steps in order, each vendor's tools behind them.

This is what `pilot backup`, `pilot restore` and the deploy pipeline call.
It returns values (a Manifest, a RestoreResult, a VerifyReport) and raises
PilotError subclasses with one-line messages; it never prints.
"""

from __future__ import annotations

import os
import re
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from django.conf import settings as django_settings
from django.db import connections

from migration_pilot import __version__
from migration_pilot.backup import catalogue, mysql, position, postgresql, privileges, sqlite, state
from migration_pilot.backup.errors import (
    BackupError,
    BadOptionError,
    CorruptBackupError,
    DiscardWritesRequiredError,
    RestoreError,
    RestorePreflightError,
    RestoreTargetError,
    UnsupportedDatabaseError,
)
from migration_pilot.backup.manifest import FORMATS, Manifest
from migration_pilot.backup.progress import Meter, ProgressCallback
from migration_pilot.backup.state import MigrationState, TableFingerprint
from migration_pilot.exceptions import PilotError

DEFAULT_LOCK_WAIT: Final = 60.0
_NEW_DATABASE: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


@dataclass(frozen=True, slots=True)
class RestoreResult:
    """What a restore did and the migration state the database is now at."""

    backup_id: str
    alias: str
    database: str
    created_database: bool
    state: MigrationState
    dropped: list[str] = field(default_factory=list)
    duration_s: float = 0.0
    discarded: position.WritesSince | None = None
    """What was written since the backup and thrown away (None for a new database)."""
    tools: dict[str, str] = field(default_factory=dict)
    """The client tools the restore ran, name -> absolute path (S13); empty for SQLite."""

    @property
    def applied_migrations(self) -> list[tuple[str, str]]:
        """Migrations recorded as applied in the restored database."""
        return self.state.applied


@dataclass(frozen=True, slots=True)
class TableComparison:
    """One table in the live database and in the scratch restore."""

    table: str
    live: TableFingerprint | None
    restored: TableFingerprint | None

    @property
    def matches(self) -> bool:
        """Same row count and content hash on both sides."""
        return self.live == self.restored


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """Whether a backup restored into a scratch database and held the live data."""

    backup_id: str
    scratch: str
    tables: list[TableComparison]
    error: str = ""
    duration_s: float = 0.0

    @property
    def ok(self) -> bool:
        """Restored without error and every table matches."""
        return not self.error and all(t.matches for t in self.tables)

    @property
    def differences(self) -> list[TableComparison]:
        """The tables that do not match."""
        return [t for t in self.tables if not t.matches]


def _connect(alias: str) -> Any:
    from migration_pilot.pipeline.preflight import connect

    connection = connect(alias)
    if connection.vendor not in state.SUPPORTED:
        raise UnsupportedDatabaseError(alias, connection.vendor)
    return connection


def _new_id(alias: str, moment: datetime) -> str:
    safe = re.sub(r"[^A-Za-z0-9_]", "_", alias)[:40] or "db"
    return f"{moment:%Y%m%dT%H%M%SZ}-{safe}-{secrets.token_hex(3)}"


def _sqlite_path(settings: dict[str, Any], alias: str) -> Path:
    name = str(settings.get("NAME") or "")
    if not name or name == ":memory:" or "mode=memory" in name:
        raise UnsupportedDatabaseError(alias, "in-memory sqlite")
    return Path(name)


def create_backup(alias: str, *, directory: str | Path | None = None, label: str | None = None, jobs: int = 1,
                  progress: ProgressCallback | None = None, lock_wait: float | None = DEFAULT_LOCK_WAIT) -> Manifest:
    """Take a consistent backup of `alias` and publish it in the catalogue; returns its manifest.

    The data goes to a temporary name, is fsynced, checked (pg_restore --list,
    SQLite integrity_check, the MySQL dump trailer) and checksummed before it
    is renamed; the manifest is published last. On any failure the temporary
    data is removed and nothing is listed.
    """
    if jobs < 1:
        raise BadOptionError("--jobs", f"{jobs}; give 1 or more")
    connection = _connect(alias)
    folder = catalogue.ensure_directory(catalogue.resolve_directory(directory))
    catalogue.cleanup_stale(folder)
    started = time.monotonic()
    created = datetime.now(UTC).replace(microsecond=0)
    settings = state.database_settings(alias)
    vendor = connection.vendor
    applied = state.applied_migrations(connection)
    version = state.server_version(connection)
    where = position.read_position(connection)  # before the dump: writes while it starts count as after it
    meter = Meter("backup", progress)
    temp = catalogue.temp_name(folder)
    roles: list[str] | None = None
    extensions: dict[str, str] | None = None
    large_objects: int | None = None
    try:
        if vendor == "postgresql":
            found = postgresql.find_tools(state.server_major(connection))
            if jobs == 1:
                os.close(catalogue.create_private_file(temp))
            fmt, compression = postgresql.dump(settings, found, temp, jobs=jobs, lock_wait=lock_wait, meter=meter)
            catalogue.fsync_tree(temp)
            toc = postgresql.check_archive(temp, fmt, found)
            versions = {"pg_dump": found.versions["pg_dump"], "pg_restore": found.versions["pg_restore"]}
            paths = {"pg_dump": str(found.pg_dump), "pg_restore": str(found.pg_restore)}
            needs = privileges.archive_needs(toc, temp, found.pg_restore, acl=True)
            roles = sorted(needs.roles)
            extensions = privileges.installed_extensions(connection)
            large_objects = postgresql.large_objects_in(toc)
        elif vendor == "sqlite":
            os.close(catalogue.create_private_file(temp))
            with catalogue.private_umask():
                fmt, compression = sqlite.dump(_sqlite_path(settings, alias), temp, meter=meter)
            catalogue.fsync_tree(temp)
            versions = {"sqlite3": state.server_version(connection)}
            paths = {}
        else:
            tools = mysql.find_tools()
            fd = catalogue.create_private_file(temp)
            try:
                fmt, compression = mysql.dump(settings, tools, fd, temp, meter=meter)
            finally:
                os.close(fd)
            versions = {tools.dump.name: tools.versions[tools.dump.name]}
            paths = {tools.dump.name: str(tools.dump)}
        digest, size = catalogue.checksum(temp)
        meter.finish(size)
        backup_id = _new_id(alias, created)
        manifest = Manifest(
            id=backup_id, created_at=created, alias=alias, vendor=vendor, database=_database_label(settings),
            server_version=version, tool_versions=versions, format=fmt, compression=compression, size=size,
            sha256=digest, applied_migrations=applied, label=label, duration_s=round(time.monotonic() - started, 3),
            pilot_version=__version__, write_position=where, tool_paths=paths, roles=roles, extensions=extensions,
            large_objects=large_objects, directory=folder)
        catalogue.publish(temp, manifest.path)
        try:
            catalogue.write_manifest(manifest)
        except BaseException:
            catalogue.remove_quietly(manifest.path)
            raise
    except PilotError:
        catalogue.remove_quietly(temp)
        raise
    except OSError as exc:
        catalogue.remove_quietly(temp)
        raise BackupError(f"Writing the backup to {folder} failed: {exc.strerror or exc}.",
                          hint="Free disk space or fix permissions there; nothing was kept.") from None
    except BaseException:
        catalogue.remove_quietly(temp)
        raise
    return manifest


def _database_label(settings: dict[str, Any]) -> str:
    """The database name (a file name for SQLite): enough to recognise it, no credentials."""
    return str(settings.get("NAME") or "")


def _check_archive(manifest: Manifest, server_major: int | None) -> Any:
    """Checksum, then the format's own check; returns vendor tools and table of contents where relevant."""
    catalogue.check_integrity(manifest)
    if manifest.format not in FORMATS:
        raise CorruptBackupError(f"Backup {manifest.id} has unknown format {manifest.format!r}.",
                                 hint="Refusing to restore it.")
    if manifest.vendor == "postgresql":
        assert server_major is not None
        found = postgresql.find_tools(server_major, restore=True)
        return found, postgresql.check_archive(manifest.path, manifest.format, found, full=True)
    if manifest.vendor == "sqlite":
        sqlite.check_archive(manifest.path)
        return None, []
    mysql.check_archive(manifest.path)
    return mysql.find_tools(), []


def _preflight(manifest: Manifest, found: postgresql.Tools, toc: list[str], connection: Any, *, database: str,
               new_database: bool, no_owner: bool, no_acl: bool, any_extension_version: bool) -> None:
    """Refuse, naming everything at once, a restore the connecting role lacks roles or privileges for (G1).

    With a manifest that recorded the extensions' versions (F4), also refuse a
    server that cannot give the restore the same versions, unless
    `any_extension_version`.
    """
    needs = privileges.archive_needs(toc, manifest.path, found.pg_restore, acl=not (no_owner or no_acl))
    problems = privileges.missing_privileges(connection, needs, database=database, new_database=new_database,
                                             no_owner=no_owner, no_acl=no_acl)
    if manifest.extensions and not any_extension_version:
        problems += privileges.extension_version_problems(connection, manifest.extensions, needs)
    if problems:
        raise RestorePreflightError(manifest.id, database, [(p.problem, p.fix) for p in problems])


@dataclass(frozen=True, slots=True)
class _Target:
    alias: str | None
    settings: dict[str, Any]
    create: bool


def _resolve_target(connection: Any, alias: str, target: str | None, manifest: Manifest) -> _Target:
    if target is None:
        return _Target(alias, state.database_settings(alias), create=False)
    if target in django_settings.DATABASES:
        other = _connect(target)
        if other.vendor != manifest.vendor:
            raise RestoreTargetError(f"--target {target!r} is a {other.vendor} database but backup {manifest.id}"
                                     f" is {manifest.vendor}.", hint="Restore into a database of the same vendor.")
        return _Target(target, state.database_settings(target), create=False)
    if manifest.vendor == "sqlite":
        path = Path(os.path.abspath(target))
        if path.exists():
            raise RestoreTargetError(f"--target {target!r} is neither a DATABASES alias nor a new file: it exists.",
                                     hint="Name a file that does not exist yet, or an alias.")
        return _Target(None, {**state.database_settings(alias), "NAME": str(path)}, create=True)
    if not _NEW_DATABASE.match(target):
        raise RestoreTargetError(f"--target {target!r} is neither a DATABASES alias nor a valid new database name.",
                                 hint="Use letters, digits and '_' (at most 63), starting with a letter.")
    module = postgresql if manifest.vendor == "postgresql" else mysql
    if module.database_exists(connection, target):
        raise RestoreTargetError(f"Database {target!r} already exists on the server of {alias!r}.",
                                 hint="Add it to DATABASES and pass its alias, or name a new database.")
    return _Target(None, state.database_settings(alias, target), create=True)


def writes_since_backup(manifest: Manifest, *, alias: str, target_database: str | None = None,
                        since: position.WriteWatch | None = None) -> position.WritesSince | None:
    """What the database a restore would replace got written since the backup (or since `since`).

    None when the restore goes into a new database (nothing to lose). With
    `since` (a deploy's watch taken right before it applied), the position is
    the watch's and the watching connection's own writes do not count.
    """
    connection = _connect(alias)
    if connection.vendor != manifest.vendor:
        raise RestoreTargetError(f"Backup {manifest.id} is of a {manifest.vendor} database but alias {alias!r}"
                                 f" is {connection.vendor}.", hint="Pass --database with an alias of that vendor.")
    target = _resolve_target(connection, alias, target_database, manifest)
    if target.alias is None:
        return None
    if since is not None and target.alias == since.connection.alias:
        return position.writes_since(since.connection, since.position, own=since.own)
    return position.writes_since(connections[target.alias], manifest.write_position)


def restore_backup(manifest: Manifest, *, alias: str, target_database: str | None = None, jobs: int = 1,
                   progress: ProgressCallback | None = None, no_owner: bool = False, no_acl: bool = False,
                   lock_wait: float | None = DEFAULT_LOCK_WAIT, discard_writes: bool = False,
                   since: position.WriteWatch | None = None, any_extension_version: bool = False) -> RestoreResult:
    """Put a backup back into `alias` (or into `target_database`: another alias, or a new database).

    Refuses, before touching anything, a backup whose checksum, size or format
    check fails, and (unless `discard_writes`) a restore that would throw away
    writes made since the backup, or since `since` (E5), or cannot tell, and
    (PostgreSQL) a restore the connecting role lacks roles or privileges for
    (G1): owners unless `no_owner`, grant roles unless `no_acl`, extensions, and
    (F4) the extension versions the manifest recorded unless `any_extension_version`.
    Afterwards the database holds exactly the backup's tables; the result says
    which migrations are applied there and which the code has that it lacks.
    """
    started = time.monotonic()
    connection = _connect(alias)
    if connection.vendor != manifest.vendor:
        raise RestoreTargetError(f"Backup {manifest.id} is of a {manifest.vendor} database but alias {alias!r}"
                                 f" is {connection.vendor}.", hint="Pass --database with an alias of that vendor.")
    target = _resolve_target(connection, alias, target_database, manifest)
    server_major = state.server_major(connection) if manifest.vendor == "postgresql" else None
    found, toc = _check_archive(manifest, server_major)
    if manifest.vendor == "postgresql":
        _preflight(manifest, found, toc, connections[target.alias] if target.alias else connection,
                   database=str(target.settings["NAME"]), new_database=target.create, no_owner=no_owner,
                   no_acl=no_acl, any_extension_version=any_extension_version)
    lost = writes_since_backup(manifest, alias=alias, target_database=target_database, since=since)
    if since is not None:
        since.stop()
    if lost is not None and lost.changed is not False and not discard_writes:
        raise DiscardWritesRequiredError(manifest.id, f"alias {target.alias!r}", lost.summary,
                                         known=lost.changed is True)
    meter = Meter("restore", progress, total=manifest.size)
    dropped: list[str] = []
    if target.create and manifest.vendor != "sqlite":
        (postgresql if manifest.vendor == "postgresql" else mysql).create_database(connection, target.settings["NAME"])
    try:
        if manifest.vendor == "postgresql":
            drops = ""
            if not target.create and target.alias is not None:
                extras = postgresql.extra_relations(connections[target.alias], toc)
                drops = postgresql.drop_statements(connections[target.alias], extras)
                dropped = [f"{schema}.{name}" for schema, name, _ in extras]
            postgresql.restore(target.settings, found, manifest.path, manifest.format, jobs=jobs,
                               clean=not target.create, drops=drops, no_owner=no_owner, no_acl=no_acl,
                               meter=meter, lock_wait=lock_wait)
        elif manifest.vendor == "sqlite":
            if target.alias is not None:
                connections[target.alias].close()
            sqlite.restore(manifest.path, Path(target.settings["NAME"]), meter=meter)
        else:
            objects = mysql.restore(target.settings, found, manifest.path, meter=meter)
            if target.alias is not None:
                dropped = mysql.drop_extra_tables(connections[target.alias], objects)
    except BaseException:
        if target.create and manifest.vendor != "sqlite":
            (postgresql if manifest.vendor == "postgresql" else mysql).drop_database(connection,
                                                                                     target.settings["NAME"])
        raise
    meter.finish(manifest.size)
    if target.alias is not None:
        connections[target.alias].close()
        now = state.migration_state(connections[target.alias])
    else:
        with state.temporary_alias(target.settings) as restored:
            now = state.migration_state(restored)
    return RestoreResult(manifest.id, target.alias or alias, str(target.settings["NAME"]), target.create, now,
                         dropped, round(time.monotonic() - started, 3), lost, _tool_paths(found))


def _tool_paths(found: Any) -> dict[str, str]:
    """name -> path of the client tools a restore resolved (none for SQLite)."""
    if isinstance(found, postgresql.Tools):
        return {"pg_restore": str(found.pg_restore), **({"psql": str(found.psql)} if found.psql else {})}
    if isinstance(found, mysql.Tools):
        return {found.client.name: str(found.client)}
    return {}


def verify_backup(manifest: Manifest, alias: str, *, progress: ProgressCallback | None = None) -> VerifyReport:
    """Restore into a scratch database and compare every table with the live database of `alias`.

    The scratch database (a temporary PostgreSQL/MariaDB database, or a
    temporary SQLite file in the backup directory) is always removed. Writes
    made to the live database after the backup show up as differences, so
    verify right after backing up.
    """
    started = time.monotonic()
    connection = _connect(alias)
    if connection.vendor != manifest.vendor:
        raise RestoreTargetError(f"Backup {manifest.id} is of a {manifest.vendor} database but alias {alias!r}"
                                 f" is {connection.vendor}.", hint="Pass --database with an alias of that vendor.")
    server_major = state.server_major(connection) if manifest.vendor == "postgresql" else None
    found, _ = _check_archive(manifest, server_major)
    meter = Meter("verify", progress, total=manifest.size)
    scratch_name = f"pilot_verify_{secrets.token_hex(5)}"
    error = ""
    restored: dict[str, TableFingerprint] = {}
    if manifest.vendor == "sqlite":
        scratch_path = catalogue.temp_name(manifest.directory, ".sqlite3")
        os.close(catalogue.create_private_file(scratch_path))
        scratch_settings = {**state.database_settings(alias), "NAME": str(scratch_path)}
        try:
            with catalogue.private_umask():
                sqlite.restore(manifest.path, scratch_path, meter=meter)
            with state.temporary_alias(scratch_settings) as scratch:
                restored = state.table_fingerprints(scratch)
        except RestoreError as exc:
            error = str(exc)
        finally:
            for suffix in ("", "-journal", "-wal", "-shm"):
                catalogue.remove_quietly(Path(str(scratch_path) + suffix))
        scratch_label = scratch_path.name
    else:
        module: Any = postgresql if manifest.vendor == "postgresql" else mysql
        scratch_settings = state.database_settings(alias, scratch_name)
        module.create_database(connection, scratch_name)
        try:
            if manifest.vendor == "postgresql":
                postgresql.restore(scratch_settings, found, manifest.path, manifest.format,
                                   jobs=2 if manifest.format == "pg-directory" else 1, clean=False, drops="",
                                   no_owner=False, meter=meter)
            else:
                mysql.restore(scratch_settings, found, manifest.path, meter=meter)
            with state.temporary_alias(scratch_settings) as scratch:
                restored = state.table_fingerprints(scratch)
        except RestoreError as exc:
            error = str(exc)
        finally:
            module.drop_database(connection, scratch_name)
        scratch_label = scratch_name
    live = state.table_fingerprints(connection) if not error else {}
    tables = [TableComparison(name, live.get(name), restored.get(name)) for name in sorted(set(live) | set(restored))]
    return VerifyReport(manifest.id, scratch_label, tables, error, round(time.monotonic() - started, 3))
