"""One walk of the graph collecting, per operation, its SQL both ways, locks and plain-word facts.

The walk follows `migrate` on an empty database: one ProjectState advanced in
place in plan order, as analysis/walk.py does, but rendered (Django's schema
editor needs model classes) from the first migration that is documented on;
the migrations before it only move the state, unrendered. For each operation
the state before it is cloned, the operation moves the walk state on, and
Django's schema editor, in collect-SQL mode on docgen/offline.py's backend,
writes `database_forwards(before, after)` and `database_backwards(after,
before)`. That is what `sqlmigrate` and `sqlmigrate --backwards` print, one
operation at a time so one operation Django cannot write offline does not
hide the SQL of the others.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db import migrations as dj_migrations
from django.db.migrations.state import ProjectState

import migration_pilot.docgen.words as words
from migration_pilot.analysis.walk import plan_order
from migration_pilot.backends import BackendProfile
from migration_pilot.exceptions import MigrationLoadError
from migration_pilot.loader import LoadedGraph
from migration_pilot.plan.locks import LockImpact
from migration_pilot.plan.operation_locks import operation_locks
from migration_pilot.types import MigrationKey


@dataclass(slots=True)
class Sql:
    """Statements one direction of an operation produces, or why there are none to show."""

    statements: tuple[str, ...] = ()
    note: str | None = None
    """'Python code (…)', 'irreversible', 'needs the live database (…)': why `statements` is empty."""

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        return {"statements": list(self.statements), "note": self.note}


@dataclass(slots=True)
class OperationFacts:
    """What one operation does, in SQL and in words."""

    index: int
    kind: str
    description: str
    reversible: bool
    locks: list[LockImpact]
    forward: Sql
    backward: Sql
    changes: list[str] = field(default_factory=list)
    rollback: list[str] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)


OperationFactsByMigration = dict[MigrationKey, list[OperationFacts]]


def collect(loaded: LoadedGraph, wanted: Callable[[MigrationKey], bool], connection: Any,
            profile: BackendProfile) -> OperationFactsByMigration:
    """Facts for every operation of the migrations `wanted` accepts; `connection` None: no SQL."""
    state = ProjectState(real_apps=set(loaded.loader.unmigrated_apps))
    found: OperationFactsByMigration = {}
    rendered = False
    for key in plan_order(loaded):
        migration = loaded.graph.nodes[key]
        if not wanted(key):
            for index, operation in enumerate(migration.operations):
                _forwards(operation, key, index, state)
            continue
        if not rendered:
            state.apps  # noqa: B018 - render once; state_forwards then keeps the models up to date
            rendered = True
        found[key] = [_operation(connection, profile, key, index, operation, state)
                      for index, operation in enumerate(migration.operations)]
    return found


def _forwards(operation: Any, key: MigrationKey, index: int, state: ProjectState) -> None:
    try:
        operation.state_forwards(key[0], state)
    except Exception as exc:
        raise MigrationLoadError(
            f"Cannot follow operation {index} ({type(operation).__name__}) of {key[0]}.{key[1]}: {exc}.",
            hint="Django's migrate would fail here too; fix that migration.",
        ) from exc


def _operation(connection: Any, profile: BackendProfile, key: MigrationKey, index: int, operation: Any,
               state: ProjectState) -> OperationFacts:
    app_label = key[0]
    try:
        description = str(operation.describe())
    except Exception:  # a custom operation's describe() must not stop the docs
        description = type(operation).__name__
    reversible = bool(getattr(operation, "reversible", True))
    locks = operation_locks(operation, app_label, state, profile)
    before = state.clone()
    _forwards(operation, key, index, state)
    facts = OperationFacts(index, type(operation).__name__, description, reversible, locks,
                           _sql(connection, operation, app_label, before, state, backwards=False),
                           _sql(connection, operation, app_label, before, state, backwards=True))
    said = words.describe(operation, app_label, before, state, connection, profile.vendor)
    facts.changes, facts.rollback, facts.checks = said.changes, said.rollback, said.checks
    return facts


def _sql(connection: Any, operation: Any, app_label: str, before: ProjectState, after: ProjectState,
         *, backwards: bool) -> Sql:
    if isinstance(operation, dj_migrations.RunPython):
        code = operation.reverse_code if backwards else operation.code
        if code is None:
            return Sql(note="irreversible: no reverse_code")
        return Sql(note=f"Python code ({words.callable_name(code)}), not SQL")
    if backwards and not bool(getattr(operation, "reversible", True)):
        return Sql(note="irreversible: Django cannot unapply this operation")
    if not getattr(operation, "reduces_to_sql", True):
        return Sql(note="not SQL: this operation cannot be written as SQL")
    if connection is None:
        return Sql(note="no SQL: this database's driver is not installed here")
    try:
        with connection.schema_editor(collect_sql=True, atomic=False) as editor:
            if backwards:
                operation.database_backwards(app_label, editor, after, before)
            else:
                operation.database_forwards(app_label, editor, before, after)
    except Exception as exc:  # the schema editor wanted the live database (a constraint name, say)
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        return Sql(note=f"needs the live database: Django's schema editor failed offline"
                        f" ({type(exc).__name__}: {first[:200]}); run 'manage.py sqlmigrate' on a migrated database")
    statements = tuple(str(s) for s in editor.collected_sql)
    if not statements:
        return Sql(note="no SQL: Django changes only its own state here")
    return Sql(statements)
