"""MySQL and MariaDB: metadata-lock waits, InnoDB row-lock waits, server counters.

Neither server says who holds a metadata lock without a plugin or the
performance schema (off by default on MariaDB), so a session waiting for a
metadata lock is attributed to the watched sessions of the same database that
are running a statement or hold an open transaction: an idle session outside a
transaction holds no metadata lock (LOCK TABLES aside). InnoDB row-lock waits name their
blocker exactly (information_schema.INNODB_LOCK_WAITS on MariaDB and MySQL
5.7, performance_schema.data_lock_waits on MySQL 8). Counters are the
server's global status, so they cover every database on it. The primary
does not know its replicas' lag, so none is reported.

InnoDB refreshes its information_schema snapshot only when it was last read
more than 0.1 s ago, so reading it every tick would freeze it: the InnoDB
tables are read at most every `_INNODB_REFRESH_S`, the process list every tick.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any, Final

from migration_pilot.monitor.report import Counters, LockWait, Sample, WatchedSession
from migration_pilot.monitor.watch import Watch, blocked_by_watched

_ROW_WAITS_INFORMATION_SCHEMA: Final = """
SELECT r.trx_mysql_thread_id, b.trx_mysql_thread_id,
       TIMESTAMPDIFF(MICROSECOND, r.trx_wait_started, NOW(6)) / 1000000, coalesce(l.lock_mode, ''),
       coalesce(l.lock_table, ''), coalesce(r.trx_query, '')
FROM information_schema.INNODB_LOCK_WAITS w
JOIN information_schema.INNODB_TRX r ON r.trx_id = w.requesting_trx_id
JOIN information_schema.INNODB_TRX b ON b.trx_id = w.blocking_trx_id
LEFT JOIN information_schema.INNODB_LOCKS l ON l.lock_id = w.requested_lock_id
"""

_ROW_WAITS_PERFORMANCE_SCHEMA: Final = """
SELECT r.trx_mysql_thread_id, b.trx_mysql_thread_id,
       TIMESTAMPDIFF(MICROSECOND, r.trx_wait_started, NOW(6)) / 1000000, coalesce(l.LOCK_MODE, ''),
       concat(coalesce(l.OBJECT_SCHEMA, ''), '.', coalesce(l.OBJECT_NAME, '')), coalesce(r.trx_query, '')
FROM performance_schema.data_lock_waits w
JOIN information_schema.INNODB_TRX r ON r.trx_id = w.REQUESTING_ENGINE_TRANSACTION_ID
JOIN information_schema.INNODB_TRX b ON b.trx_id = w.BLOCKING_ENGINE_TRANSACTION_ID
LEFT JOIN performance_schema.data_locks l ON l.ENGINE_LOCK_ID = w.REQUESTING_ENGINE_LOCK_ID
"""

_INNODB_REFRESH_S: Final = 0.25

_ROWS: Final = ("Innodb_rows_inserted", "Innodb_rows_updated", "Innodb_rows_deleted")
_HANDLER_ROWS: Final = ("Handler_write", "Handler_update", "Handler_delete")  # MariaDB 10.11 lacks the above
_STATUS: Final = ("Com_rollback", "Innodb_deadlocks", "Innodb_row_lock_waits", *_ROWS, *_HANDLER_ROWS)


class MysqlProbe:
    """Samples a MySQL or MariaDB server on the monitor's own connection."""

    vendor: Final = "mysql"

    def __init__(self) -> None:
        self._mariadb = False
        self._row_waits: str | None = _ROW_WAITS_INFORMATION_SCHEMA
        self._innodb_read_at = -_INNODB_REFRESH_S
        self._transactions: dict[int, tuple[int, int]] = {}
        self._row_lock_rows: list[LockWait] = []

    def prepare(self, cursor: Any, server_version: str) -> None:
        """Keep every query of this session from waiting on a lock or running long."""
        self._mariadb = "mariadb" in server_version.lower()
        if not self._mariadb and not server_version.startswith("5."):
            self._row_waits = _ROW_WAITS_PERFORMANCE_SCHEMA
        settings = ["SET SESSION lock_wait_timeout = 1", "SET SESSION innodb_lock_wait_timeout = 1",
                    "SET SESSION max_statement_time = 2" if self._mariadb else "SET SESSION max_execution_time = 2000"]
        for statement in settings:
            cursor.execute(statement)

    def _elapsed(self) -> str:
        # MariaDB counts milliseconds in TIME_MS; MySQL only whole seconds in TIME.
        return "TIME_MS / 1000" if self._mariadb else "TIME"

    def sample(self, cursor: Any, watch: Watch, at_s: float) -> Sample:
        """One tick: watched sessions, metadata-lock and row-lock waiters, global counters."""
        cursor.execute(
            f"SELECT ID, USER, COMMAND, coalesce(STATE, ''), {self._elapsed()}, coalesce(INFO, ''),"
            " coalesce(DB, '') = coalesce(DATABASE(), ''), coalesce(DB, '')"
            " FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID() AND COMMAND <> 'Daemon'")
        rows = cursor.fetchall()
        sessions = [row[:6] for row in rows]
        here = {int(row[0]) for row in rows if row[6]}
        database_of = {int(row[0]): str(row[7]) for row in rows}
        transactions, row_waits = self._innodb(cursor)
        elapsed_of = {int(row[0]): float(row[4] or 0) for row in sessions}
        pids = frozenset(int(row[0]) for row in sessions if int(row[0]) in watch.pids)
        # A watched session running a statement or holding a transaction may hold a metadata lock.
        holders = tuple(sorted(int(s[0]) for s in sessions if int(s[0]) in pids
                               and (s[2] != "Sleep" or int(s[0]) in transactions)))
        if watch.prefix is not None and not watch.pids:
            holders = ()  # no session names here: attribute nothing, report every waiter below
        waiters: list[LockWait] = []
        for sid, user, _command, state, elapsed, info in sessions:
            if _matches_mdl(state):
                # Attributed within one database: Django sessions do not reach into another one.
                blockers = tuple(h for h in holders if h != int(sid) and database_of[h] == database_of[int(sid)])
                waiters.append(LockWait(int(sid), str(user), float(elapsed or 0), _lock_name(state), "",
                                        str(info), blockers))
        # trx_wait_started has whole seconds; the statement's own clock is finer and never later. A
        # cached wait whose session no longer runs a statement has ended since InnoDB was last read.
        running = {int(row[0]) for row in sessions if row[2] in {"Query", "Execute"}}
        waiters.extend(replace(w, wait_s=min(w.wait_s, elapsed_of.get(w.pid, w.wait_s)))
                       for w in row_waits if w.pid in running)
        watched = tuple(
            WatchedSession(int(sid), str(user), f"{command}: {state}" if state else str(command),
                           float(elapsed or 0), str(info), _holds(transactions.get(int(sid))),
                           next((w for w in waiters if w.pid == int(sid)), None))
            for sid, user, command, state, elapsed, info in sessions if int(sid) in pids)
        if watch.prefix is not None and not watch.pids:
            # The whole server's waiters would include other databases' traffic: keep this database's.
            blocked = tuple(w for w in waiters if w.pid in here)
        else:
            blocked = tuple(blocked_by_watched(waiters, pids))
        return Sample(at_s, watched, blocked, (), self._counters(cursor), None)

    def _innodb(self, cursor: Any) -> tuple[dict[int, tuple[int, int]], list[LockWait]]:
        """Open transactions by thread and row-lock waits, re-read at most every _INNODB_REFRESH_S."""
        now = time.monotonic()
        age = now - self._innodb_read_at
        if age < _INNODB_REFRESH_S:
            return self._transactions, [replace(w, wait_s=w.wait_s + age) for w in self._row_lock_rows]
        self._innodb_read_at = now
        cursor.execute("SELECT trx_mysql_thread_id, trx_tables_locked, trx_rows_locked"
                       " FROM information_schema.INNODB_TRX")
        self._transactions = {int(tid): (int(tables or 0), int(rows or 0)) for tid, tables, rows in cursor.fetchall()}
        self._row_lock_rows = []
        self._row_lock_rows = self._row_lock_waits(cursor)
        return self._transactions, self._row_lock_rows

    def _row_lock_waits(self, cursor: Any) -> list[LockWait]:
        if self._row_waits is None:
            return []
        try:
            cursor.execute(self._row_waits)
        except Exception:  # the view is missing on this version: stop asking, keep sampling the rest
            self._row_waits = None
            raise
        return [LockWait(int(waiting), "", max(0.0, float(wait or 0)), f"row lock {mode}".strip(), str(table),
                         str(query), (int(blocking),))
                for waiting, blocking, wait, mode, table, query in cursor.fetchall()]

    def _counters(self, cursor: Any) -> Counters:
        cursor.execute("SHOW GLOBAL STATUS WHERE Variable_name IN (" + ", ".join(["%s"] * len(_STATUS)) + ")",
                       list(_STATUS))
        status = {str(name).lower(): int(value) for name, value in cursor.fetchall()}

        def get(name: str) -> int | None:
            return status.get(name.lower())

        names = _ROWS if all(get(n) is not None for n in _ROWS) else _HANDLER_ROWS
        rows = [get(n) for n in names]
        return Counters(rollbacks=get("Com_rollback"), deadlocks=get("Innodb_deadlocks"), conflicts=None,
                        lock_waits=get("Innodb_row_lock_waits"),
                        rows=sum(r for r in rows if r is not None) if all(r is not None for r in rows) else None)

    def cancel(self, cursor: Any, pid: int) -> bool:
        """KILL QUERY: end the statement `pid` runs, never its connection."""
        cursor.execute(f"KILL QUERY {int(pid)}")
        return True


def _lock_name(state: str) -> str:
    """'Waiting for table metadata lock' -> 'table metadata lock'."""
    return state.removeprefix("Waiting for ").strip()


def _matches_mdl(state: str) -> bool:
    return state.startswith("Waiting for") and state.endswith("metadata lock")


def _holds(transaction: tuple[int, int] | None) -> tuple[str, ...]:
    if transaction is None:
        return ()
    tables, rows = transaction
    return (f"open InnoDB transaction ({tables} tables, {rows} rows locked)",)
