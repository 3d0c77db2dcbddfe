"""PostgreSQL: who waits on the watched sessions, index builds, counters, replica lag.

Every query reads statistics views and functions only (pg_stat_activity,
pg_locks, pg_blocking_pids, pg_stat_progress_create_index, pg_stat_database,
pg_stat_replication), which take no table locks, and the session runs with a
short lock and statement timeout in case a catalog lookup ever had to wait.
"""

from __future__ import annotations

from typing import Any, Final

from migration_pilot.monitor.report import Counters, IndexProgress, LockWait, Sample, WatchedSession
from migration_pilot.monitor.watch import MONITOR_APPLICATION, Watch, blocked_by_watched

_FIRST_USER_OID: Final = 16384
_MAX_HOLDS: Final = 8

_SETUP: Final = (
    "SET lock_timeout = '100ms'",
    "SET statement_timeout = '2s'",
    "SET idle_in_transaction_session_timeout = '5s'",
    f"SET application_name = '{MONITOR_APPLICATION}'",
)

_WATCHED: Final = f"""
SELECT a.pid, coalesce(a.application_name, ''), coalesce(a.state, ''),
       extract(epoch FROM clock_timestamp() - a.query_start)::float8, coalesce(a.query, ''),
       ARRAY(SELECT l.mode || ' on ' || l.relation::regclass::text FROM pg_locks l
             WHERE l.pid = a.pid AND l.granted AND l.locktype = 'relation'
               AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
               AND l.relation >= {_FIRST_USER_OID} ORDER BY 1 LIMIT {_MAX_HOLDS})
FROM pg_stat_activity a
WHERE a.pid <> pg_backend_pid() AND a.backend_type = 'client backend'
  AND (a.pid = ANY(%s::int[])
       OR (a.datname = current_database() AND a.application_name LIKE %s
           AND a.application_name <> '{MONITOR_APPLICATION}'))
ORDER BY a.pid
"""

# Sessions waiting on a heavyweight lock, with the lock they asked for and who
# is in their way; `{waitstart}` is pg_locks.waitstart from PostgreSQL 14 on.
_WAITERS: Final = """
SELECT a.pid, coalesce(a.application_name, ''),
       extract(epoch FROM clock_timestamp() - coalesce({waitstart}, a.state_change, a.query_start))::float8,
       coalesce(l.mode, ''),
       coalesce(CASE WHEN l.relation IS NOT NULL
                      AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
                     THEN l.relation::regclass::text END, l.locktype, ''),
       coalesce(a.query, ''), pg_blocking_pids(a.pid)
FROM pg_stat_activity a
LEFT JOIN LATERAL (SELECT * FROM pg_locks x WHERE x.pid = a.pid AND NOT x.granted LIMIT 1) l ON true
WHERE a.wait_event_type = 'Lock' AND a.pid <> pg_backend_pid() AND a.datname = current_database()
"""

_PROGRESS: Final = """
SELECT p.pid, p.relid::regclass::text, CASE WHEN p.index_relid = 0 THEN '' ELSE p.index_relid::regclass::text END,
       p.phase, p.blocks_done, p.blocks_total, p.tuples_done, p.tuples_total
FROM pg_stat_progress_create_index p WHERE p.pid = ANY(%s::int[])
"""

_COUNTERS: Final = """
SELECT d.xact_rollback, d.deadlocks, d.conflicts, d.tup_inserted + d.tup_updated + d.tup_deleted,
       (SELECT max(extract(epoch FROM r.replay_lag))::float8 FROM pg_stat_replication r),
       (SELECT count(*) FROM pg_stat_replication)
FROM pg_stat_database d WHERE d.datname = current_database()
"""


class PostgresProbe:
    """Samples one PostgreSQL database on the monitor's own connection."""

    vendor: Final = "postgresql"

    def __init__(self) -> None:
        self._waiters_sql = _WAITERS.format(waitstart="NULL::timestamptz")

    def prepare(self, cursor: Any, server_version: int) -> None:
        """Name the session and make sure none of its queries can wait long on a lock."""
        for statement in _SETUP:
            cursor.execute(statement)
        if server_version >= 140000:
            self._waiters_sql = _WAITERS.format(waitstart="l.waitstart")

    def sample(self, cursor: Any, watch: Watch, at_s: float) -> Sample:
        """One tick: watched sessions, the sessions they block, index builds, counters, lag."""
        cursor.execute(_WATCHED, [sorted(watch.pids), watch.like_pattern()])
        watched_rows = cursor.fetchall()
        cursor.execute(self._waiters_sql)
        waiters = [LockWait(int(pid), app, max(0.0, float(wait or 0.0)), mode, table, query,
                            tuple(int(b) for b in blockers or ()))
                   for pid, app, wait, mode, table, query, blockers in cursor.fetchall()]
        pids = frozenset(int(row[0]) for row in watched_rows)
        own_waits = {w.pid: w for w in waiters if w.pid in pids}
        watched = tuple(
            WatchedSession(int(pid), app, state, None if running is None else float(running), query,
                           tuple(holds or ()), own_waits.get(int(pid)))
            for pid, app, state, running, query, holds in watched_rows)
        progress: tuple[IndexProgress, ...] = ()
        if pids:
            cursor.execute(_PROGRESS, [sorted(pids)])
            progress = tuple(IndexProgress(int(pid), table or "", index or "", phase or "", int(bd or 0),
                                           int(bt or 0), int(td or 0), int(tt or 0))
                             for pid, table, index, phase, bd, bt, td, tt in cursor.fetchall())
        cursor.execute(_COUNTERS)
        row = cursor.fetchone()
        counters, lag = Counters(), None
        if row is not None:
            rollbacks, deadlocks, conflicts, rows, max_lag, replicas = row
            counters = Counters(rollbacks=int(rollbacks), deadlocks=int(deadlocks), conflicts=int(conflicts),
                                rows=int(rows))
            if replicas:
                lag = float(max_lag or 0.0)
        return Sample(at_s, watched, tuple(blocked_by_watched(waiters, pids)), progress, counters, lag)

    def cancel(self, cursor: Any, pid: int) -> bool:
        """Cancel the statement `pid` runs (pg_cancel_backend, never terminate); whether the signal went out."""
        cursor.execute("SELECT pg_cancel_backend(%s)", [pid])
        row = cursor.fetchone()
        return bool(row and row[0])
