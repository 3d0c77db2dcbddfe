"""build_plan(): what `migrate` would do to a live database, judged before anything runs.

Read-only: it reads django_migrations and the catalog, collects SQL without
executing it, and lints the planned migrations with the live table sizes in
view (a table the plan creates, or a small one, blocks nobody).
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from django.db import connections
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.operations.base import Operation

from migration_pilot.analysis.reversal import EXACT, LiveData, Reversal, classify_reverse
from migration_pilot.analysis.routing import routed_away
from migration_pilot.analysis.schema import table_of
from migration_pilot.backends import profile_for
from migration_pilot.conf import Config, load_config
from migration_pilot.diagnostics import Diagnostic, Severity
from migration_pilot.exceptions import PilotError, UnknownAppError
from migration_pilot.loader import translated_load_errors
from migration_pilot.online.coverage import online_rules_for
from migration_pilot.plan import sql as plan_sql
from migration_pilot.plan.locks import Blocks, LockImpact
from migration_pilot.plan.operation_locks import operation_locks
from migration_pilot.plan.sizes import TableSize, table_sizes
from migration_pilot.types import MigrationKey

SMALL_TABLE_ROWS = 10_000
LARGE_TABLE_ROWS = 1_000_000
RISKS = ("none", "low", "medium", "high")


class UnknownTargetError(PilotError, LookupError):
    """A --target names a migration that does not exist, or a prefix that several migrations share."""

    def __init__(self, app: str, name: str, matches: Sequence[str] = ()) -> None:
        self.app, self.name, self.matches = app, name, sorted(matches)

    def __str__(self) -> str:
        if self.matches:
            return (
                f"Ambiguous migration target {self.app} {self.name}: {len(self.matches)} migrations start with it"
                f" ({', '.join(self.matches)}). Give more of the name."
            )
        return (
            f"Unknown migration target {self.app} {self.name}: no such migration."
            f" Use a migration name from 'manage.py showmigrations {self.app}', or 'zero'."
        )


@dataclass
class PlannedOperation:
    """One operation of a planned migration."""

    index: int
    description: str
    kind: str
    reversible: bool
    locks: list[LockImpact]
    online_rules: frozenset[str] = frozenset()
    """Lint rules whose hazard `pilot deploy`'s online form removes for this operation (PostgreSQL)."""
    rollback: Reversal | None = None
    """What unapplying it does to the data (analysis/reversal.py); counted on the live database for
    `pilot plan` and for backwards plans."""


@dataclass
class PlannedMigration:
    """One migration `migrate` would apply (or unapply)."""

    app: str
    name: str
    backwards: bool
    atomic: bool
    reversible: bool
    operations: list[PlannedOperation]
    forward_sql: list[str] = field(default_factory=list)
    backward_sql: list[str] | None = None
    sql_error: str | None = None
    backward_sql_note: str | None = None
    """Why the backward SQL of a reversible migration cannot be shown yet (it reads objects the plan creates)."""
    sql_source: str = "schema editor"
    """'schema editor' (collect_sql, as sqlmigrate) or 'shadow' (captured while applying to a shadow database)."""
    tables: dict[str, TableSize] = field(default_factory=dict)
    new_tables: list[str] = field(default_factory=list)
    risk: str = "none"
    estimated_s: float | None = None
    findings: list[Diagnostic] = field(default_factory=list)
    online: list[str] = field(default_factory=list)
    """Why `pilot deploy` runs some statements in their online form (PostgreSQL; table renames on MySQL too),
    one line each."""

    @property
    def key(self) -> MigrationKey:
        """(app, name)."""
        return (self.app, self.name)


@dataclass
class Plan:
    """Everything `pilot plan` shows and `pilot deploy` acts on."""

    alias: str
    vendor: str
    migrations: list[PlannedMigration]
    applied_before: list[MigrationKey]
    findings: list[Diagnostic]

    @property
    def backwards(self) -> bool:
        """Whether the plan unapplies migrations."""
        return any(m.backwards for m in self.migrations)

    def blocking_findings(self, fail_on: int, *, online: bool = False, after_release: bool = False) -> list[Diagnostic]:
        """Findings at or above the threshold; with `online`, not those the online form takes care of;
        `after_release` (the post-deploy phase), not those whose hazard is the old code still running."""
        from migration_pilot.pipeline.phases import CONTRACT_RULES

        return [d for d in self.findings if d.severity >= fail_on and not (online and self.handled_online(d))
                and not (after_release and d.rule in CONTRACT_RULES)]

    def handled_online(self, finding: Diagnostic) -> bool:
        """Whether the deploy's online form removes the hazard `finding` describes (PostgreSQL)."""
        from migration_pilot.online.coverage import handled_online

        rules: frozenset[str] = frozenset()
        for entry in self.migrations:
            if entry.key == (finding.app, finding.migration) and finding.operation is not None:
                rules = next((o.online_rules for o in entry.operations if o.index == finding.operation), rules)
        return handled_online(finding, rules, self.vendor)

    def to_json(self) -> dict[str, Any]:
        """JSON form of the plan."""
        return {
            "alias": self.alias,
            "vendor": self.vendor,
            "migrations": [
                {
                    "app": m.app, "name": m.name, "backwards": m.backwards, "atomic": m.atomic,
                    "reversible": m.reversible, "risk": m.risk, "estimated_s": m.estimated_s,
                    "forward_sql": m.forward_sql, "backward_sql": m.backward_sql,
                    "sql_error": m.sql_error, "sql_source": m.sql_source, "new_tables": m.new_tables,
                    "backward_sql_note": m.backward_sql_note,
                    "tables": {t: asdict(s) for t, s in m.tables.items()},
                    "operations": [
                        {"index": o.index, "description": o.description, "kind": o.kind,
                         "reversible": o.reversible, "locks": [lock.to_json() for lock in o.locks],
                         "rollback": o.rollback.to_json() if o.rollback else None}
                        for o in m.operations
                    ],
                    "findings": [d.to_json() for d in m.findings],
                    "online": m.online,
                }
                for m in self.migrations
            ],
            "findings": [d.to_json() for d in self.findings],
        }


def resolve_targets(executor: MigrationExecutor, target: Sequence[str] | None) -> list[MigrationKey]:
    """`migrate`'s targets: every leaf, or (app, name|zero) like `migrate app name`."""
    graph = executor.loader.graph
    if not target:
        return list(graph.leaf_nodes())
    app, name = target[0], target[1]
    apps_with_migrations = {a for a, _ in executor.loader.disk_migrations}
    if app not in apps_with_migrations:
        raise UnknownAppError(app, known=apps_with_migrations)
    if name == "zero":
        return [(app, None)]  # type: ignore[list-item]
    try:
        migration = executor.loader.get_migration_by_prefix(app, name)
    except (KeyError, Exception) as exc:
        if type(exc).__name__ == "AmbiguityError":
            matches = [n for a, n in executor.loader.disk_migrations if a == app and n.startswith(name)]
            raise UnknownTargetError(app, name, matches) from None
        if type(exc).__name__ == "KeyError":
            raise UnknownTargetError(app, name) from None
        raise
    return [(app, migration.name)]


def operation_reversible(operation: Operation) -> bool:
    """Whether Django can unapply `operation` (RunPython/RunSQL need their reverse)."""
    return bool(getattr(operation, "reversible", True))


def build_plan(alias: str = "default", *, target: Sequence[str] | None = None,
               config: Config | None = None, with_sql: bool = True,
               history: dict[tuple[str, str, bool], float] | None = None,
               unapply: Sequence[MigrationKey] | None = None,
               executor: MigrationExecutor | None = None, online: bool = True) -> Plan:
    """The plan for `alias`: all leaves, `target` = (app, name|zero), or exactly `unapply` (in order).

    With `online` (as `pilot deploy` runs by default), the forward SQL shown is
    the online form on PostgreSQL, with the reason for each change.
    """
    config = config or load_config()
    connection = connections[alias]
    with translated_load_errors():
        executor = executor or MigrationExecutor(connection)
        executor.loader.check_consistent_history(connection)
    if unapply is not None:
        raw_plan = [(executor.loader.graph.nodes[key], True) for key in unapply]
    else:
        raw_plan = executor.migration_plan(resolve_targets(executor, target))
    profile = profile_for(connection.vendor, config.pg_version)
    applied_before = sorted(executor.loader.applied_migrations)
    with connection.cursor() as cursor:
        existing = set(connection.introspection.table_names(cursor))
    planned: list[PlannedMigration] = []
    state = None
    live = LiveData(connection)
    touched: set[str] = set()
    for migration, backwards in raw_plan:
        if state is None:
            # What migrate itself starts from: every applied migration, not only the ancestors
            # of the first planned one (other apps' applied migrations matter too).
            state = executor._create_project_state(with_applied_migrations=True)
        if backwards:
            # The state before unapplying is the state after the migration; walking a backwards
            # plan needs the state before each migration, which Django's loader gives directly.
            before = executor.loader.project_state((migration.app_label, migration.name), at_end=False)
        else:
            before = state
        # Forwards, the one state walks on in place (no copies); SQL collection needs the
        # state before the migration intact, so only then is it copied.
        walk = before if not backwards and not with_sql else before.clone()
        entry = _plan_migration(connection, migration, backwards, before, walk, profile, with_sql,
                                existing if online else None, live if with_sql or backwards else None)
        for op in entry.operations:
            touched.update(lock.table for lock in op.locks)
        planned.append(entry)
        if not backwards and with_sql:
            state = walk
    if with_sql:
        _fill_sql_from_shadow(connection, executor.loader, raw_plan, planned)
    sizes = table_sizes(connection, touched)
    for entry in planned:
        entry.tables = {t: sizes[t] for op in entry.operations for t in (lk.table for lk in op.locks)
                        if t in sizes}
        entry.new_tables = sorted({lock.table for op in entry.operations for lock in op.locks
                                   if lock.table not in existing})
        if history:
            entry.estimated_s = history.get((entry.app, entry.name, entry.backwards))
    findings = _lint_plan(planned, config, profile.vendor, existing, sizes, executor.loader)
    for entry in planned:
        entry.findings = [d for d in findings if (d.app, d.migration) == entry.key]
        entry.risk = _risk(entry, existing, sizes)
    return Plan(alias, connection.vendor, planned, applied_before, findings)


def _plan_migration(connection: Any, migration: Any, backwards: bool, before: Any, walk_state: Any,
                    profile: Any, with_sql: bool, online_tables: set[str] | None = None,
                    live: LiveData | None = None) -> PlannedMigration:
    operations: list[PlannedOperation] = []
    for index, operation in enumerate(migration.operations):
        if routed_away(operation, migration.app_label, connection.alias):  # recorded here, run elsewhere
            operations.append(PlannedOperation(index, _describe(operation), type(operation).__name__,
                                               operation_reversible(operation), [],
                                               frozenset(), Reversal(EXACT, f"nothing runs on {connection.alias}:"
                                                                     " DATABASE_ROUTERS send it elsewhere")))
            operation.state_forwards(migration.app_label, walk_state)
            continue
        locks = operation_locks(operation, migration.app_label, walk_state, profile)
        operations.append(PlannedOperation(index, _describe(operation), type(operation).__name__,
                                           operation_reversible(operation), locks,
                                           online_rules_for(operation, app_label=migration.app_label,
                                                            state=walk_state, connection=connection)
                                           if not backwards else frozenset(),
                                           classify_reverse(operation, migration.app_label, walk_state, live=live,
                                                            max_name_length=_max_name_length(connection))))
        operation.state_forwards(migration.app_label, walk_state)
    entry = PlannedMigration(
        migration.app_label, migration.name, backwards, bool(migration.atomic),
        all(o.reversible for o in operations), operations,
    )
    if with_sql:
        from migration_pilot.online import online_schema_editor

        editors = (online_schema_editor(connection, retry=None, existing_tables=frozenset(online_tables))
                   if online_tables is not None and not backwards else contextlib.nullcontext(None))
        with editors as session:
            forward = plan_sql.collect(connection, migration, before, backwards=False)
        if session is not None:
            entry.online = [d.reason for rewrite in session.rewrites for d in rewrite.later]
            entry.online += [f"{d.plain[:80]} runs as written: a later statement needs it ({why[:80]})"
                             for d, why in session.plain_after_all]
        backward = plan_sql.collect(connection, migration, before, backwards=True)
        entry.online += backward.notes if backwards else forward.notes
        entry.forward_sql = list(forward.statements)
        entry.backward_sql = list(backward.statements) if backward.error is None else None
        entry.sql_error = forward.error
        if backward.error and "IrreversibleError" not in backward.error:
            # Reversible, but Django's reverse looks up names in the live database, which this
            # plan has not created yet: say so, instead of calling it irreversible.
            entry.backward_sql_note = ("its reverse SQL reads names from the database, which exist only once"
                                       " this plan has run; 'pilot plan' shows it after the deploy")
    return entry


def _describe(operation: Any) -> str:
    try:
        return str(operation.describe())
    except Exception:  # a third-party operation whose describe() needs more than the operation
        return type(operation).__name__


def _max_name_length(connection: Any) -> int:
    """The backend's identifier length limit (table names are truncated to it)."""
    return int(connection.ops.max_name_length() or 63)


def _fill_sql_from_shadow(connection: Any, loader: Any, raw_plan: Any, planned: list[PlannedMigration]) -> None:
    """SQL that collect_sql mode cannot produce, captured on a shadow database; never silently empty."""
    failed = {entry.key: entry for entry in planned if not entry.backwards and entry.sql_error
              and not entry.sql_error.startswith("backwards:")}
    if not failed:
        return
    forwards = [migration for migration, backwards in raw_plan if not backwards]
    captured, problem = plan_sql.collect_on_shadow(connection, loader, forwards, set(failed))
    for key, entry in failed.items():
        if key in captured:
            entry.forward_sql = captured[key]
            entry.sql_source = "shadow"
            entry.sql_error = None
        elif problem:
            entry.sql_error = f"{entry.sql_error}; {problem}"


def _lint_plan(planned: list[PlannedMigration], config: Config, vendor: str,
               existing: set[str], sizes: dict[str, TableSize], loader: Any) -> list[Diagnostic]:
    from migration_pilot.lint.context import Scope
    from migration_pilot.lint.engine import Selection, run_lint
    from migration_pilot.loader import LoadedGraph

    forwards = [m for m in planned if not m.backwards]
    if not forwards:
        return []
    # The graph as it stands for this database (the loader that made the plan): no second load.
    loaded = LoadedGraph(loader)
    small = frozenset(t for t, s in sizes.items()
                      if s.rows is not None and s.rows < SMALL_TABLE_ROWS)
    final_tables = set()
    for model in loaded.loader.project_state().models.values():
        final_tables.add(table_of(model, 63 if vendor == "postgresql" else 64))
    scope = Scope(new_tables=frozenset(final_tables - existing), small_tables=small)
    keys = frozenset(m.key for m in forwards)
    selection = Selection(apps=frozenset(k[0] for k in keys), keys=keys)
    profile = profile_for(vendor, config.pg_version)
    result = run_lint(loaded, config, profile, selection, scope=scope)
    return [d for d in result.diagnostics if d.migration is not None]


def _risk(entry: PlannedMigration, existing: set[str], sizes: dict[str, TableSize]) -> str:
    level = 0
    for op in entry.operations:
        for lock in op.locks:
            if lock.table not in existing or not (lock.blocks & (Blocks.READS | Blocks.WRITES)):
                level = max(level, 1 if lock.table in existing else 0)
                continue
            size = sizes.get(lock.table)
            rows = size.rows if size else None
            if rows is None:
                op_level = 2
            elif rows < SMALL_TABLE_ROWS:
                op_level = 1
            elif rows < LARGE_TABLE_ROWS:
                op_level = 2
            else:
                op_level = 3
            if lock.rewrites and op_level < 3:
                op_level += 1
            level = max(level, op_level)
    if any(d.severity >= Severity.ERROR for d in entry.findings):
        level = max(level, 2)
    return RISKS[level]
