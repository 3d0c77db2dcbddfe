"""What maintenance runs, whether it blocks traffic, who may run it, and running it.

PostgreSQL: `REINDEX INDEX CONCURRENTLY` for INVALID indexes (an index left
INVALID by a failed REINDEX CONCURRENTLY, `*_ccnew`, is dropped CONCURRENTLY
instead: it cannot be rebuilt), `VACUUM (ANALYZE)` where dead tuples exceed the
threshold, `ANALYZE` elsewhere; all take SHARE UPDATE EXCLUSIVE at most, which
blocks no reads or writes. `--vacuum` asks for `VACUUM (FULL, ANALYZE)` there
instead, which takes ACCESS EXCLUSIVE. MySQL/MariaDB: `ANALYZE TABLE`;
`--vacuum` is `OPTIMIZE TABLE` (a table rebuild). SQLite: `ANALYZE`; `--vacuum`
is `VACUUM` (rewrites the whole file, blocking every writer). Blocking work is
refused without `--allow-blocking`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from migration_pilot.exceptions import PilotError
from migration_pilot.maintain.inspect import Inspection

DEFAULT_DEAD_TUPLE_RATIO: Final = 0.1
_REINDEX_LEFTOVER: Final = re.compile(r"_cc(new|old)\d*$")


class UnsupportedVendorError(PilotError, ValueError):
    """Maintenance knows PostgreSQL, MySQL/MariaDB and SQLite only."""

    def __init__(self, vendor: str) -> None:
        self.vendor = vendor

    def __str__(self) -> str:
        return (f"pilot maintain does not know the {self.vendor!r} database; run its statistics and repair"
                " commands by hand (it supports PostgreSQL, MySQL/MariaDB and SQLite).")


class BlockingRefusedError(PilotError, ValueError):
    """Work that blocks traffic was asked for without --allow-blocking."""

    def __init__(self, action: Action) -> None:
        self.action = action

    def __str__(self) -> str:
        return (f"{self.action.sql} {self.action.blocks}; add --allow-blocking to run it anyway (in a"
                " maintenance window), or drop --vacuum.")


class MissingPrivilegeError(PilotError, PermissionError):
    """The database role may not run the maintenance; says which grant is missing."""

    exit_code = 1

    def __init__(self, problem: str) -> None:
        self.problem = problem

    def __str__(self) -> str:
        return self.problem


@dataclass(frozen=True, slots=True)
class Action:
    """One maintenance statement, why it runs, and what it blocks (empty when nothing)."""

    table: str
    sql: str
    kind: str
    """analyze | vacuum | vacuum_full | reindex | drop_index | optimize."""
    reason: str
    blocks: str = ""

    @property
    def blocking(self) -> bool:
        """Whether it blocks reads or writes while it runs."""
        return bool(self.blocks)


@dataclass(frozen=True, slots=True)
class ActionResult:
    """How one action ended."""

    action: Action
    ok: bool
    duration_s: float
    error: str = ""


def plan_actions(connection: Any, inspection: Inspection, *, analyze: bool = True, vacuum: bool = False,
                 dead_tuple_ratio: float = DEFAULT_DEAD_TUPLE_RATIO) -> list[Action]:
    """The statements to run for the inspected tables, repairs first; identifiers quoted by the backend."""
    quote = connection.ops.quote_name
    actions: list[Action] = []
    if inspection.vendor == "postgresql":
        for index in sorted(inspection.invalid_indexes, key=lambda i: (i.table, i.name)):
            name = f"{quote(index.schema)}.{quote(index.name)}"
            if _REINDEX_LEFTOVER.search(index.name):
                actions.append(Action(index.table, f"DROP INDEX CONCURRENTLY IF EXISTS {name}", "drop_index",
                                      f"INVALID index {index.name} left by a failed REINDEX CONCURRENTLY"))
            else:
                actions.append(Action(index.table, f"REINDEX INDEX CONCURRENTLY {name}", "reindex",
                                      f"index {index.name} is INVALID (a failed CREATE INDEX CONCURRENTLY)"))
        for stats in inspection.tables:
            table = quote(stats.table)
            over = stats.dead_ratio > dead_tuple_ratio
            reason = f"{stats.dead_ratio:.0%} dead tuples (threshold {dead_tuple_ratio:.0%})"
            if over and vacuum:
                actions.append(Action(stats.table, f"VACUUM (FULL, ANALYZE) {table}", "vacuum_full",
                                      reason + ", --vacuum", "takes ACCESS EXCLUSIVE on the table: reads and"
                                      " writes wait until the rewrite ends"))
            elif over:
                actions.append(Action(stats.table, f"VACUUM (ANALYZE) {table}", "vacuum", reason))
            elif analyze:
                actions.append(Action(stats.table, f"ANALYZE {table}", "analyze", "fresh planner statistics"))
    elif inspection.vendor == "mysql":
        for stats in inspection.tables:
            if analyze:
                actions.append(Action(stats.table, f"ANALYZE TABLE {quote(stats.table)}", "analyze",
                                      "fresh index statistics"))
            if vacuum:
                actions.append(Action(stats.table, f"OPTIMIZE TABLE {quote(stats.table)}", "optimize", "--vacuum",
                                      "rebuilds the table: writes wait on its metadata lock at the start and end"))
    elif inspection.vendor == "sqlite":
        for stats in inspection.tables:
            if analyze:
                actions.append(Action(stats.table, f"ANALYZE {quote(stats.table)}", "analyze",
                                      "fresh planner statistics"))
        if vacuum:
            actions.append(Action("", "VACUUM", "vacuum_full", "--vacuum",
                                  "rewrites the whole database file: every writer waits until it ends"))
    else:
        raise UnsupportedVendorError(inspection.vendor)
    return actions


def refuse_blocking(actions: Sequence[Action], *, allow_blocking: bool) -> None:
    """Raise for the first action that blocks traffic unless --allow-blocking."""
    if allow_blocking:
        return
    for action in actions:
        if action.blocking:
            raise BlockingRefusedError(action)


def check_privileges(connection: Any, actions: Sequence[Action]) -> None:
    """PostgreSQL: the role must own each table (or, from PostgreSQL 17, hold MAINTAIN on it).

    ANALYZE and VACUUM on a table the role may not maintain only print a warning
    and do nothing, so this is checked first. MySQL's denials are errors and
    are translated when they happen (see run_actions).
    """
    if connection.vendor != "postgresql" or not actions:
        return
    tables = sorted({a.table for a in actions if a.table})
    maintain = " OR has_table_privilege(c.oid, 'MAINTAIN')" if connection.pg_version >= 170000 else ""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT current_user, c.relname, pg_get_userbyid(c.relowner) FROM pg_class c"
            " JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = ANY(current_schemas(false)) AND c.relname = ANY(%s)"
            " AND NOT (pg_has_role(current_user, c.relowner, 'USAGE')"
            f" OR (SELECT rolsuper FROM pg_roles WHERE rolname = current_user){maintain})"
            " ORDER BY c.relname", [tables])
        denied = cursor.fetchall()
    if denied:
        role, table, owner = denied[0]
        grant = (f"GRANT MAINTAIN ON TABLE {table} TO {role}" if connection.pg_version >= 170000
                 else f"GRANT {owner} TO {role}")
        others = f" (and {len(denied) - 1} more table(s))" if len(denied) > 1 else ""
        raise MissingPrivilegeError(
            f"role {role} may not ANALYZE, VACUUM or REINDEX {table}{others}: only its owner {owner} may;"
            f" run as {owner}, or grant it: {grant}")


def run_actions(connection: Any, actions: Sequence[Action],
                progress: Callable[[int, Action, ActionResult | None], None] | None = None) -> list[ActionResult]:
    """Run each action in autocommit (VACUUM and CONCURRENTLY refuse a transaction); go on after a failure.

    A privilege denial stops everything with MissingPrivilegeError instead.
    """
    results = []
    for number, action in enumerate(actions):
        if progress:
            progress(number, action, None)
        started = time.monotonic()
        try:
            with connection.cursor() as cursor:
                cursor.execute(action.sql)
                error = _mysql_message(cursor) if connection.vendor == "mysql" else ""
        except Exception as exc:
            error = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            _raise_if_denied(connection, action, exc, error)
        result = ActionResult(action, not error, time.monotonic() - started, error)
        results.append(result)
        if progress:
            progress(number, action, result)
    return results


def _mysql_message(cursor: Any) -> str:
    """ANALYZE/OPTIMIZE TABLE report problems as result rows (Msg_type 'error'), not as exceptions."""
    rows = cursor.fetchall() if cursor.description else []
    errors = [str(row[3]) for row in rows if len(row) > 3 and str(row[2]).lower() == "error"]
    return "; ".join(errors)


def _raise_if_denied(connection: Any, action: Action, exc: Exception, message: str) -> None:
    code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else None
    sqlstate = getattr(getattr(exc, "__cause__", None), "sqlstate", None)
    if connection.vendor == "mysql" and code in {1142, 1044, 1045}:
        database = connection.settings_dict.get("NAME")
        raise MissingPrivilegeError(
            f"{message}: {action.sql} needs SELECT and INSERT on the table; grant them:"
            f" GRANT SELECT, INSERT ON {database}.{action.table} TO <user>") from None
    if connection.vendor == "postgresql" and sqlstate == "42501":
        raise MissingPrivilegeError(f"{message}: run as the table's owner, or grant it the owner's role") from None
    if connection.vendor == "sqlite" and "readonly" in message.replace("-", "").replace(" ", ""):
        raise MissingPrivilegeError(f"{message}: {action.sql} writes to the database file; make it and its"
                                    " directory writable for this user") from None
