"""The maintenance a successful deploy runs by itself: ANALYZE of the tables it changed.

Only the part of `pilot maintain` that is cheap and blocks no traffic runs
here, right after the migrations are applied and verified:

- PostgreSQL `ANALYZE`: SHARE UPDATE EXCLUSIVE (reads and writes go on), a
  sample of at most 300 x default_statistics_target rows whatever the size.
- MariaDB and MySQL from 8.0.24 `ANALYZE TABLE`: InnoDB samples a few pages
  (MariaDB collects its engine-independent statistics only when asked with
  PERSISTENT FOR). MySQL before 8.0.24 is skipped: there ANALYZE TABLE makes
  every later query on the table wait for the queries already running on it
  ("Waiting for table flush").
- SQLite `ANALYZE` with `PRAGMA analysis_limit` so each index is sampled, not
  read whole, while the write lock is held.

Tables this deploy created are left out (their statistics would say "empty"
until autovacuum looks again). VACUUM over the dead-tuple threshold and
REINDEX of INVALID indexes are named but left to `pilot maintain`: they are not
cheap. A failure here never fails the deploy; it is reported.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any, Final

from migration_pilot.maintain.actions import (
    Action,
    ActionResult,
    MissingPrivilegeError,
    check_privileges,
    plan_actions,
    run_actions,
)
from migration_pilot.maintain.inspect import inspect_tables
from migration_pilot.maintain.targets import tables_of_migrations
from migration_pilot.types import MigrationKey

SQLITE_ANALYSIS_LIMIT: Final = 1000
"""Rows SQLite's ANALYZE reads per index after a deploy (its documentation suggests 100 to 1000)."""
ANALYZE_COST_DELAY: Final = "2ms"
"""vacuum_cost_delay for the deploy's ANALYZE on PostgreSQL: autovacuum's default since PostgreSQL 12."""
_MYSQL_FLUSH_FIXED: Final = (8, 0, 24)


@dataclass(frozen=True, slots=True)
class DeployMaintenance:
    """What ran after a deploy, what it left for `pilot maintain`, and why anything was skipped."""

    results: tuple[ActionResult, ...] = ()
    new_tables: tuple[str, ...] = ()
    """Created by this deploy: not analyzed."""
    left: tuple[str, ...] = ()
    """Work that is not cheap, for `pilot maintain` ('VACUUM (ANALYZE) "t": 40% dead tuples ...')."""
    unknown: tuple[str, ...] = ()
    """Migrations whose tables are not known (RunPython, unparsable RunSQL)."""
    skipped: str = ""
    """Why nothing ran at all (a MySQL version, a missing privilege), else empty."""
    duration_s: float = 0.0

    @property
    def failed(self) -> list[ActionResult]:
        """The statements that failed."""
        return [r for r in self.results if not r.ok]

    def lines(self) -> list[str]:
        """The deploy output's lines (events) for it; the first starts with 'Maintenance'."""
        ran = [r for r in self.results if r.ok]
        if ran:
            lines = [f"Maintenance: analyzed {', '.join(r.action.table for r in ran)} ({self.duration_s:.2f}s;"
                     " --no-maintain skips it)."]
        elif self.skipped:
            lines = [f"Maintenance: skipped: {self.skipped}."]
        elif self.failed:
            lines = ["Maintenance: nothing analyzed."]
        else:
            lines = ["Maintenance: nothing to analyze (" + ("this deploy only created tables" if self.new_tables
                                                           else "no existing table changed") + ")."]
        lines += [f"   Warning: {r.action.sql} failed: {r.error}; the deploy stands, run 'pilot maintain' later."
                  for r in self.failed]
        lines += [f"   Left for 'pilot maintain': {item}." for item in self.left]
        lines += [f"   Not analyzed: the tables {where} changes with RunPython or RunSQL are not known; name them"
                  " with 'pilot maintain --table TABLE'." for where in self.unknown]
        return lines

    def as_dict(self) -> dict[str, Any]:
        """The run history's record (DeployRun.options['maintenance'])."""
        return {
            "statements": [{"sql": r.action.sql, "table": r.action.table, "ok": r.ok,
                            "duration_s": round(r.duration_s, 4), **({"error": r.error} if r.error else {})}
                           for r in self.results],
            "new_tables": list(self.new_tables), "left": list(self.left), "unknown": list(self.unknown),
            "skipped": self.skipped, "duration_s": round(self.duration_s, 4),
        }


def maintain_after_deploy(connection: Any, keys: Sequence[MigrationKey], *, existed: Collection[str],
                          timeouts: Any = None) -> DeployMaintenance:
    """ANALYZE the tables the migrations `keys` changed that `existed` before them, under the deploy's `timeouts`."""
    started = time.monotonic()
    tables, unknown = tables_of_migrations(connection.alias, keys)
    created = {t for t in tables if t not in existed}
    own = ("migration_pilot_", "django_migrations")
    tables = [t for t in tables if t not in created and not t.startswith(own)]
    report = DeployMaintenance(new_tables=tuple(sorted(created)), unknown=tuple(unknown))
    if tables:
        report = _analyze(connection, tables, timeouts, report)
    return replace(report, duration_s=time.monotonic() - started)


def _analyze(connection: Any, tables: Sequence[str], timeouts: Any, report: DeployMaintenance) -> DeployMaintenance:
    too_old = _mysql_flush_stall(connection)
    if too_old:
        return replace(report, skipped=too_old)
    inspection = inspect_tables(connection, tables)
    actions, left = _cheap(connection, plan_actions(connection, inspection, analyze=True, vacuum=False))
    report = replace(report, left=tuple(left))
    try:
        check_privileges(connection, actions)
        with _session(connection, timeouts):
            return replace(report, results=tuple(run_actions(connection, actions)))
    except MissingPrivilegeError as exc:
        return replace(report, skipped=str(exc))


def _cheap(connection: Any, planned: Sequence[Action]) -> tuple[list[Action], list[str]]:
    """(ANALYZE actions, descriptions of the rest): a table over the VACUUM threshold is analyzed now."""
    quote = connection.ops.quote_name
    actions: list[Action] = []
    left: list[str] = []
    for action in planned:
        if action.kind == "analyze":
            actions.append(action)
            continue
        left.append(f"{action.sql}: {action.reason}")
        if action.kind == "vacuum" and action.table:
            actions.append(Action(action.table, f"ANALYZE {quote(action.table)}", "analyze",
                                  "fresh planner statistics (VACUUM left for 'pilot maintain')"))
    return actions, left


def _mysql_flush_stall(connection: Any) -> str:
    """Why ANALYZE TABLE must not run unattended on this server, or ''."""
    if connection.vendor != "mysql" or getattr(connection, "mysql_is_mariadb", False):
        return ""
    version = tuple(getattr(connection, "mysql_version", ()) or ())
    if not version or version >= _MYSQL_FLUSH_FIXED:
        return ""
    shown = ".".join(map(str, version))
    return (f"MySQL {shown} makes every query on a table wait for the queries already running on it after"
            " ANALYZE TABLE (fixed in 8.0.24); run 'pilot maintain' when no long query runs")


@contextlib.contextmanager
def _session(connection: Any, timeouts: Any) -> Iterator[None]:
    """The deploy's timeouts (a waiting ANALYZE gives up at the lock timeout); SQLite samples."""
    from migration_pilot.pipeline.timeouts import session_timeouts

    timeouts_block = session_timeouts(connection, timeouts) if timeouts is not None else contextlib.nullcontext()
    with timeouts_block:
        if connection.vendor == "postgresql":
            with _throttled(connection):
                yield
            return
        if connection.vendor != "sqlite":
            yield
            return
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA analysis_limit")
            row = cursor.fetchone()
            before = int(row[0]) if row else 0
            cursor.execute(f"PRAGMA analysis_limit = {SQLITE_ANALYSIS_LIMIT:d}")
        try:
            yield
        finally:
            with connection.cursor() as cursor:
                cursor.execute(f"PRAGMA analysis_limit = {before:d}")


@contextlib.contextmanager
def _throttled(connection: Any) -> Iterator[None]:
    """ANALYZE with autovacuum's cost-based delay, so the application's queries keep their latency.

    A manual ANALYZE runs unthrottled (vacuum_cost_delay 0): right after a
    deploy that rewrote or copied a big table its sample pages are full of
    fresh tuples whose hint bits it sets, and at full speed that took the
    application's p99 from 7 ms to 50 ms on 2 cores (bench/online,
    int -> bigint). With autovacuum's own setting the same ANALYZE yields the
    CPU and the disk between pages; it takes longer, and nobody waits for it.
    """
    with connection.cursor() as cursor:
        cursor.execute("SHOW vacuum_cost_delay")
        before = cursor.fetchone()[0]
        cursor.execute("SELECT set_config('vacuum_cost_delay', %s, false)", [ANALYZE_COST_DELAY])
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config('vacuum_cost_delay', %s, false)", [before])
