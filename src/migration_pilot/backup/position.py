"""Where a database's writes stand, and how far they moved since: what a restore would throw away (E5).

A backup records a write position in its manifest; before a restore puts it
back, the position is read again and the difference says what the restore
would discard. Each vendor gives a different honest measure:

- PostgreSQL: rows inserted, updated and deleted per table (`pg_stat_user_tables`),
  plus the WAL written by the whole server (`pg_current_wal_lsn()`) and the
  database's committed transactions (`pg_stat_database.xact_commit`, reads
  included). The row counts decide; they are statistics, flushed by each
  session at most once a second and, for a session that went idle right after
  writing, up to about ten seconds later.
- MySQL/MariaDB: which tables changed (`information_schema.TABLES.UPDATE_TIME`,
  one-second resolution, lost on a server restart), the binary log position
  and GTID when binary logging is on; no row counts without it.
- SQLite: the file change counter (header bytes 24-27), the file's and its WAL's
  size and modification time; within one connection, `PRAGMA data_version`,
  which changes only when *another* connection commits.

The position is read before the dump starts, so writes committed while it
starts count as after it: the check errs towards "changed". The tool's own
bookkeeping (django_migrations, migration_pilot_* tables) never counts.

A deploy with `--on-failure restore` watches from right before it applies
(`watch_writes`): the migrations' own writes go through its connection and are
subtracted (PostgreSQL: rows per table; SQLite: data_version is per
connection), so only the application's writes during the deploy count. Where
the deploy's own writes and someone else's cannot be told apart (a table the
deploy wrote to on MySQL while other sessions wrote on the server, a table it
rewrote on PostgreSQL), the answer is "cannot tell", which refuses like
"changed".
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

_OWN_TABLES: Final = re.compile(r"^(django_migrations|migration_pilot_\w+)$")
_NAME: Final = r'(?:[`"]?[\w$]+[`"]?\.)?[`"]?([\w$]+)[`"]?'
_DML: Final = re.compile(
    r"^\s*(?:INSERT\s+(?:IGNORE\s+)?INTO|REPLACE\s+INTO|UPDATE|DELETE\s+FROM)\s+" + _NAME, re.IGNORECASE)
_DDL: Final = re.compile(
    r"^\s*(?:ALTER\s+TABLE(?:\s+IF\s+EXISTS)?(?:\s+ONLY)?|CREATE\s+(?:TEMPORARY\s+)?TABLE(?:\s+IF\s+NOT\s+EXISTS)?|"
    r"DROP\s+TABLE(?:\s+IF\s+EXISTS)?|TRUNCATE(?:\s+TABLE)?|RENAME\s+TABLE|"
    r"CREATE\s+(?:UNIQUE\s+)?INDEX\s+(?:CONCURRENTLY\s+)?(?:IF\s+NOT\s+EXISTS\s+)?\S+\s+ON(?:\s+ONLY)?)\s+" + _NAME,
    re.IGNORECASE)
_MYSQL_WRITES: Final = ("Com_insert", "Com_insert_select", "Com_update", "Com_update_multi", "Com_delete",
                        "Com_delete_multi", "Com_replace", "Com_replace_select", "Com_load")


@dataclass(frozen=True, slots=True)
class WritesSince:
    """What was written between a position and now.

    `changed` is True (writes happened), False (none), or None (cannot tell:
    another database, statistics reset, server restarted, no position
    recorded). Only False lets a restore go on without consent.
    """

    changed: bool | None
    summary: str
    rows: int | None = None
    tables: tuple[str, ...] = ()
    wal_bytes: int | None = None
    transactions: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready values."""
        return {"changed": self.changed, "summary": self.summary, "rows": self.rows, "tables": list(self.tables),
                "wal_bytes": self.wal_bytes, "transactions": self.transactions}


@dataclass
class OwnWrites:
    """An execute wrapper counting what one connection itself writes: rows per table, and tables its DDL touched."""

    rows: dict[str, int] = field(default_factory=dict)
    touched: set[str] = field(default_factory=set)

    def __call__(self, execute: Callable[..., Any], sql: str, params: Any, many: bool,
                 context: Mapping[str, Any]) -> Any:
        result = execute(sql, params, many, context)
        text = str(sql)
        match = _DML.match(text)
        if match:
            count = getattr(context.get("cursor"), "rowcount", -1)
            self.rows[match[1]] = self.rows.get(match[1], 0) + max(int(count or 0), 0)
            self.touched.add(match[1])
        else:
            ddl = _DDL.match(text)
            if ddl:
                self.touched.add(ddl[1])
        return result


@dataclass
class WriteWatch:
    """A position taken on a connection, and that connection's own writes since (see `watch_writes`)."""

    connection: Any
    position: dict[str, Any]
    own: OwnWrites

    def stop(self) -> None:
        """Stop counting this connection's writes."""
        if self.own in self.connection.execute_wrappers:
            self.connection.execute_wrappers.remove(self.own)


def watch_writes(connection: Any) -> WriteWatch:
    """Read the position now on `connection` and count its own writes from here on (deploy, before applying)."""
    position = read_position(connection)
    own = OwnWrites()
    # One watch per connection: an earlier deploy in this process that never restored left its counter behind.
    connection.execute_wrappers[:] = [w for w in connection.execute_wrappers if not isinstance(w, OwnWrites)]
    connection.execute_wrappers.append(own)
    return WriteWatch(connection, position, own)


def read_position(connection: Any) -> dict[str, Any]:
    """The write position of the database behind `connection`, as JSON-ready values for the manifest."""
    reader = {"postgresql": _pg_position, "mysql": _mysql_position, "sqlite": _sqlite_position}[connection.vendor]
    try:
        return {"vendor": connection.vendor, **reader(connection)}
    except Exception as exc:  # a missing privilege must not stop a backup; the restore then cannot tell
        return {"vendor": connection.vendor, "error": f"{type(exc).__name__}: {str(exc).strip()[:200]}"}


def writes_since(connection: Any, before: Mapping[str, Any] | None, *, own: OwnWrites | None = None) -> WritesSince:
    """Compare `before` (from a manifest or a watch) with the position of `connection` now."""
    if not before:
        return WritesSince(None, "the backup records no write position (taken by an older version of the tool),"
                                 " so what was written since cannot be told")
    if before.get("error"):
        return WritesSince(None, f"the write position could not be read at backup time ({before['error']})")
    if before.get("vendor") != connection.vendor:
        return WritesSince(None, "the write position is of another database engine")
    compare = {"postgresql": _pg_since, "mysql": _mysql_since, "sqlite": _sqlite_since}[connection.vendor]
    try:
        return compare(connection, before, own or OwnWrites())
    except Exception as exc:
        return WritesSince(None, f"the current write position could not be read ({type(exc).__name__}:"
                                 f" {str(exc).strip()[:200]})")


def _own(table: str) -> bool:
    return bool(_OWN_TABLES.match(table))


def _listed(counts: Mapping[str, int | None], limit: int = 5) -> str:
    items = sorted(counts.items(), key=lambda kv: (-(kv[1] or 0), kv[0]))
    shown = ", ".join(f"{name} ({count:,})" if count is not None else name for name, count in items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


# PostgreSQL ---------------------------------------------------------------------------------------------------


def _lsn(text: str) -> int:
    high, low = text.split("/")
    return (int(high, 16) << 32) + int(low, 16)


def _pg_position(connection: Any) -> dict[str, Any]:
    with connection.cursor() as cursor:
        if connection.pg_version >= 150000:  # this session's own pending statistics, flushed when it goes idle
            cursor.execute("SELECT pg_stat_force_next_flush()")
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT current_database(), d.oid, pg_current_wal_lsn()::text, s.xact_commit, s.tup_inserted,"
            " s.tup_updated, s.tup_deleted, s.stats_reset FROM pg_stat_database s JOIN pg_database d"
            " ON d.oid = s.datid WHERE d.datname = current_database()")
        name, oid, lsn, commits, inserted, updated, deleted, reset = cursor.fetchone()
        cursor.execute("SELECT schemaname, relname, n_tup_ins + n_tup_upd + n_tup_del FROM pg_stat_user_tables"
                       " WHERE schemaname NOT LIKE 'pg\\_temp\\_%%'")
        tables = {(rel if schema == "public" else f"{schema}.{rel}"): int(count) for schema, rel, count
                  in cursor.fetchall()}
    return {"measure": "rows written per table (pg_stat_user_tables)", "identity": f"{name}/{oid}",
            "wal_lsn": lsn, "xact_commit": int(commits), "tup_inserted": int(inserted),
            "tup_updated": int(updated), "tup_deleted": int(deleted),
            "stats_reset": reset.isoformat() if reset else None, "tables": tables}


def _pg_since(connection: Any, before: Mapping[str, Any], own: OwnWrites) -> WritesSince:
    now = _pg_position(connection)
    if now["identity"] != before.get("identity"):
        return WritesSince(None, f"database {now['identity'].split('/')[0]!r} is not the one the position was taken"
                                 " on (another database, or dropped and re-created since)")
    if now["stats_reset"] != before.get("stats_reset"):
        return WritesSince(None, "the database's statistics were reset since (pg_stat_reset or a crash), so the"
                                 " writes since cannot be counted")
    wal = _lsn(now["wal_lsn"]) - _lsn(str(before["wal_lsn"]))
    commits = now["xact_commit"] - int(before["xact_commit"])
    old: Mapping[str, int] = before.get("tables") or {}
    written: dict[str, int] = {}
    unknown: list[str] = []
    for table, count in now["tables"].items():
        if _own(table):
            continue
        base = table.rsplit(".", 1)[-1]
        delta = count - int(old.get(table, 0))
        if delta < 0:  # the table was dropped and re-created since: its counters started again
            unknown.append(table)
            continue
        mine = own.rows.get(base, 0)
        if base in own.touched and base not in own.rows and delta > 0:  # rewritten by our own DDL
            unknown.append(table)
            continue
        if delta - mine > 0:
            written[table] = delta - mine
    rows = sum(written.values())
    figures = (f"{_bytes(wal)} of WAL on the whole server, {commits:,} transaction(s) committed in the database"
               " (reads included)")
    if unknown:
        detail = f"; and {_listed(written)}" if written else ""
        return WritesSince(None, f"writes to {', '.join(sorted(unknown)[:5])} cannot be counted (re-created or"
                                 f" rewritten since){detail}; {figures}", rows or None,
                           tuple(sorted({*written, *unknown})), wal, commits)
    if rows:
        return WritesSince(True, f"{rows:,} row(s) written in {len(written)} table(s) since: {_listed(written)};"
                                 f" {figures}", rows, tuple(sorted(written)), wal, commits)
    return WritesSince(False, f"no row written since (pg_stat_user_tables; {figures})", 0, (), wal, commits)


def _bytes(value: int) -> str:
    for unit, size in (("GB", 1 << 30), ("MB", 1 << 20), ("kB", 1 << 10)):
        if value >= size:
            return f"{value / size:.1f} {unit}"
    return f"{value} bytes"


# MySQL / MariaDB ----------------------------------------------------------------------------------------------


def _mysql_position(connection: Any) -> dict[str, Any]:
    """The position; when a table was written in the current second, read again in the next one (at most twice).

    UPDATE_TIME has one-second resolution: a write later in the same second
    would not move it, so such a table would have to count as changed.
    """
    for _attempt in range(2):
        found = _mysql_position_once(connection)
        if not any(stamp is not None and stamp >= found["now"] and not _own(table)
                   for table, stamp in found["tables"].items()):
            break
        time.sleep(1.0 - (time.time() % 1.0) + 0.05)
    return found


def _mysql_position_once(connection: Any) -> dict[str, Any]:
    with connection.cursor() as cursor:
        # MySQL 8 caches information_schema statistics (UPDATE_TIME) for a day by default; MariaDB never does.
        with contextlib.suppress(Exception):
            cursor.execute("SET SESSION information_schema_stats_expiry = 0")
        cursor.execute("SHOW GLOBAL STATUS LIKE 'Uptime'")
        uptime = int(cursor.fetchone()[1])
        cursor.execute("SELECT DATABASE(), @@hostname, @@port, NOW(), CONNECTION_ID(), UNIX_TIMESTAMP()")
        name, host, port, moment, connection_id, unix_now = cursor.fetchone()
        started = int(unix_now) - uptime
        cursor.execute("SELECT TABLE_NAME, UPDATE_TIME FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()"
                       " AND TABLE_TYPE = 'BASE TABLE'")
        tables = {str(t): (str(u) if u is not None else None) for t, u in cursor.fetchall()}
        binlog: dict[str, Any] = {}
        for statement in ("SHOW BINARY LOG STATUS", "SHOW MASTER STATUS"):
            try:
                cursor.execute(statement)
            except Exception:  # the other spelling, or no privilege
                continue
            row = cursor.fetchone()
            if row:
                binlog = {"binlog_file": str(row[0]), "binlog_pos": int(row[1])}
            break
        gtid = ""
        for variable in ("@@gtid_binlog_pos", "@@gtid_executed"):
            try:
                cursor.execute(f"SELECT {variable}")
                gtid = str(cursor.fetchone()[0] or "")
                break
            except Exception:  # MariaDB and MySQL name it differently
                continue
        counts = {}
        for scope in ("GLOBAL", "SESSION"):
            cursor.execute(f"SHOW {scope} STATUS WHERE Variable_name IN ({', '.join(['%s'] * len(_MYSQL_WRITES))})",
                           list(_MYSQL_WRITES))
            counts[scope] = sum(int(value) for _name, value in cursor.fetchall())
    return {"measure": "tables changed (information_schema.TABLES.UPDATE_TIME)", "identity": f"{host}:{port}/{name}",
            "now": str(moment), "started": int(started), "connection_id": int(connection_id),
            "tables": tables, **binlog, "gtid": gtid, "write_statements": counts["GLOBAL"],
            "session_write_statements": counts["SESSION"]}


def _mysql_since(connection: Any, before: Mapping[str, Any], own: OwnWrites) -> WritesSince:
    now = _mysql_position_once(connection)
    if now["identity"] != before.get("identity"):
        return WritesSince(None, f"database {now['identity']!r} is not the one the position was taken on")
    if abs(now["started"] - int(before["started"])) > 2:
        return WritesSince(None, "the server restarted since, and it keeps UPDATE_TIME in memory only, so the"
                                 " writes since cannot be told")
    old: Mapping[str, str | None] = before.get("tables") or {}
    second = str(before["now"])
    changed: list[str] = []
    ours: list[str] = []
    surely: set[str] = set()
    for table, stamp in now["tables"].items():
        if _own(table):
            continue
        # Same second as the position: a write after it may not have moved UPDATE_TIME, so it counts.
        if stamp != old.get(table) or (stamp is not None and stamp >= second):
            (ours if table in own.touched else changed).append(table)
            if stamp != old.get(table):
                surely.add(table)
    changed.sort(key=lambda t: (t not in surely, t))  # moved for sure first, then written in the position's second
    binlog = ""
    if before.get("binlog_file") and now.get("binlog_file"):
        if before["binlog_file"] == now["binlog_file"]:
            binlog = f"; {_bytes(now['binlog_pos'] - int(before['binlog_pos']))} of binary log on the whole server"
        else:
            binlog = f"; the binary log moved from {before['binlog_file']} to {now['binlog_file']}"
    if ours:
        same_session = now["connection_id"] == before.get("connection_id")
        others = (now["write_statements"] - int(before["write_statements"])
                  - (now["session_write_statements"] - int(before["session_write_statements"]))
                  if same_session else None)
        if others != 0:
            changed += [t for t in ours if t not in changed]
            counted = f"{others:,} write statement(s) by other sessions" if others is not None else "other sessions"
            return WritesSince(None, f"tables {', '.join(sorted(ours)[:5])} were written by this run, and {counted}"
                                     " ran on the server meanwhile, so whether they wrote there too cannot be told"
                                     + (f"; changed by others: {', '.join(sorted(set(changed) - set(ours))[:5])}"
                                        if set(changed) - set(ours) else "") + binlog,
                               None, tuple(sorted(set(changed))))
    if changed:
        return WritesSince(True, f"{len(changed)} table(s) changed since: {', '.join(changed[:5])}"
                                 f"{' and more' if len(changed) > 5 else ''} (UPDATE_TIME; no row counts without"
                                 f" the binary log){binlog}", None, tuple(changed))
    return WritesSince(False, f"no table changed since (information_schema UPDATE_TIME){binlog}", 0)


# SQLite -------------------------------------------------------------------------------------------------------


def _sqlite_position(connection: Any) -> dict[str, Any]:
    path = Path(str(connection.settings_dict["NAME"])).resolve()
    with open(path, "rb") as handle:
        header = handle.read(100)
    info = path.stat()
    wal = Path(f"{path}-wal")
    wal_state = [wal.stat().st_size, wal.stat().st_mtime_ns] if wal.exists() else None
    connection.ensure_connection()
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA data_version")
        data_version = int(cursor.fetchone()[0])
        cursor.execute("PRAGMA journal_mode")
        journal = str(cursor.fetchone()[0])
    return {"measure": "file change counter and modification times", "identity": f"{path}#{info.st_ino}",
            "change_counter": int.from_bytes(header[24:28], "big"), "mtime_ns": info.st_mtime_ns,
            "size": info.st_size, "wal": wal_state, "journal_mode": journal, "data_version": data_version,
            "connection": id(connection.connection), "pid": os.getpid()}


def _sqlite_since(connection: Any, before: Mapping[str, Any], own: OwnWrites) -> WritesSince:
    now = _sqlite_position(connection)
    if now["identity"] != before.get("identity"):
        return WritesSince(None, f"{now['identity'].split('#')[0]} is not the file the position was taken on"
                                 " (another file, or replaced since)")
    same_connection = now["connection"] == before.get("connection") and now["pid"] == before.get("pid")
    if same_connection:  # data_version moves only when another connection commits: our own writes do not count
        if now["data_version"] != before.get("data_version"):
            return WritesSince(True, "another connection committed to the database since (PRAGMA data_version)")
        return WritesSince(False, "no other connection committed since (PRAGMA data_version)", 0)
    moved = [what for what, key in (("change counter", "change_counter"), ("modification time", "mtime_ns"),
                                    ("size", "size"), ("WAL file", "wal")) if now[key] != before.get(key)]
    if moved:
        counter = now["change_counter"] - int(before.get("change_counter") or 0)
        return WritesSince(True, f"the database file changed since ({', '.join(moved)}"
                                 + (f"; {counter:,} write transaction(s) by the change counter" if counter > 0
                                    and before.get("journal_mode") != "wal" else "") + ")",
                           None, transactions=counter if counter > 0 else None)
    return WritesSince(False, "the database file is unchanged since (change counter, size and modification time)", 0)
