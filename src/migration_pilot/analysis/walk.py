"""Walk the migration graph once, in plan order, with the state before each operation.

Django's executor clones the whole ProjectState before every operation and
re-renders models; linters built on it become quadratic in the number of
migrations. Here one ProjectState is advanced in place with each operation's
`state_forwards`, and visitors are called *before* the operation is applied, so
`visit.state` is exactly the state the operation will meet. Nothing is rendered.

Visitors must not keep `state` beyond the callback: it moves on.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from django.db import migrations as dj_migrations
from django.db.migrations.operations.base import Operation
from django.db.migrations.state import ProjectState

from migration_pilot.analysis.schema import table_of
from migration_pilot.analysis.source import MigrationSource, read_source
from migration_pilot.exceptions import MigrationLoadError
from migration_pilot.loader import LoadedGraph, migration_path
from migration_pilot.types import MigrationKey


def _known_operation_types() -> frozenset[type]:
    """Every operation class Django ships, core and contrib.postgres."""
    known: set[type] = set()
    for name in dj_migrations.operations.__all__:
        obj = getattr(dj_migrations.operations, name)
        if isinstance(obj, type) and issubclass(obj, Operation):
            known.add(obj)
    # This package's own operations: they do what their docs say, and rules dispatch on them by type.
    from migration_pilot.operations import backfill as own_backfill
    from migration_pilot.operations import online as own_online

    for module in (own_backfill, own_online):
        known.update(obj for obj in vars(module).values()
                     if isinstance(obj, type) and issubclass(obj, Operation) and obj.__module__ == module.__name__
                     and not obj.__name__.startswith("_"))
    try:
        from django.contrib.postgres import operations as pg_ops
    except ImportError:  # no psycopg: no project can use these operations either
        pass
    else:
        for obj in vars(pg_ops).values():
            is_operation = isinstance(obj, type) and issubclass(obj, Operation)
            if is_operation and obj.__module__ == pg_ops.__name__:
                known.add(obj)
    return frozenset(known)


KNOWN_OPERATION_TYPES = _known_operation_types()


@functools.lru_cache(maxsize=512)
def _effective_type(cls: type) -> type | None:
    for klass in cls.__mro__:
        if klass in KNOWN_OPERATION_TYPES:
            return klass
        if "database_forwards" in vars(klass):
            return None
    return None


def effective_operation_type(operation: Operation) -> type | None:
    """The Django operation class whose database behaviour `operation` has, or None.

    A subclass that only renames or adds options behaves like its base. A
    subclass with its own `database_forwards` (as zero-downtime libraries write)
    is unknown: judging it as its base would be a guess.
    """
    return _effective_type(type(operation))  # type: ignore[arg-type]


@dataclass(slots=True)
class MigrationVisit:
    """One migration, as the walk reaches it."""

    key: MigrationKey
    migration: Any
    path: str | None
    max_name_length: int
    created_tables: set[str] = field(default_factory=set)
    not_valid_constraints: set[str] = field(default_factory=set)
    _source: MigrationSource | bool | None = False

    @property
    def app_label(self) -> str:
        """App label of the migration."""
        return self.key[0]

    @property
    def name(self) -> str:
        """Migration name, e.g. 0002_order_tracking_number."""
        return self.key[1]

    @property
    def dependencies(self) -> list[MigrationKey]:
        """What this migration depends on: what a rewritten version of it must depend on too."""
        return [tuple(dep) for dep in getattr(self.migration, "dependencies", [])]  # type: ignore[misc]

    @property
    def atomic(self) -> bool:
        """Whether Django wraps this migration in one transaction (where DDL is transactional)."""
        return bool(getattr(self.migration, "atomic", True))

    def source(self) -> MigrationSource | None:
        """Parsed source of the migration file, read on first use."""
        if self._source is False:
            self._source = read_source(self.path) if self.path else None
        return self._source if isinstance(self._source, MigrationSource) else None


@dataclass(slots=True)
class OperationVisit:
    """One operation with the state it meets; `nested` marks SeparateDatabaseAndState parts."""

    migration: MigrationVisit
    index: int
    operation: Operation
    kind: type | None
    state: ProjectState
    nested: bool = False


class Visitor(Protocol):
    """What the walk calls; lint, plan and docs each implement it."""

    def start_migration(self, visit: MigrationVisit) -> None: ...

    def visit_operation(self, visit: OperationVisit) -> None: ...

    def end_migration(self, visit: MigrationVisit) -> None: ...


def plan_order(loaded: LoadedGraph) -> list[MigrationKey]:
    """Every migration in the order `migrate` applies them to an empty database."""
    graph = loaded.graph
    plan: list[MigrationKey] = []
    seen: set[MigrationKey] = set()
    for leaf in sorted(graph.leaf_nodes()):
        for key in graph.forwards_plan(leaf):
            if key not in seen:
                seen.add(key)
                plan.append(key)
    return plan


def walk(
    loaded: LoadedGraph,
    visitor: Visitor,
    *,
    max_name_length: int,
    should_visit: Callable[[MigrationKey], bool] = lambda key: True,
) -> ProjectState:
    """Visit every migration in plan order; return the state at the leaves.

    `should_visit` skips the callbacks (not the state change) for migrations
    nobody asked about, such as third-party apps or a baseline.
    """
    state = ProjectState(real_apps=set(loaded.loader.unmigrated_apps))
    for key in plan_order(loaded):
        migration = loaded.graph.nodes[key]
        visit = MigrationVisit(key, migration, migration_path(migration), max_name_length)
        interested = should_visit(key)
        if interested:
            visitor.start_migration(visit)
        for index, operation in enumerate(migration.operations):
            _walk_operation(visitor if interested else None, visit, index, operation, state)
        if interested:
            visitor.end_migration(visit)
    return state


def _walk_operation(
    visitor: Visitor | None,
    visit: MigrationVisit,
    index: int,
    operation: Operation,
    state: ProjectState,
) -> None:
    app_label = visit.app_label
    if isinstance(operation, dj_migrations.SeparateDatabaseAndState):
        if visitor is not None and operation.database_operations:
            database_state = state.clone()
            for inner in operation.database_operations:
                kind = effective_operation_type(inner)
                visitor.visit_operation(
                    OperationVisit(visit, index, inner, kind, database_state, nested=True)
                )
                _advance(inner, app_label, database_state, visit, index)
        for inner in operation.state_operations:
            _advance(inner, app_label, state, visit, index)
        return
    if visitor is not None:
        kind = effective_operation_type(operation)
        visitor.visit_operation(OperationVisit(visit, index, operation, kind, state))
    _advance(operation, app_label, state, visit, index)


def _advance(
    operation: Operation, app_label: str, state: ProjectState, visit: MigrationVisit, index: int
) -> None:
    """Apply `operation` to `state`, recording tables it creates."""
    try:
        operation.state_forwards(app_label, state)
    except Exception as exc:
        raise MigrationLoadError(
            f"Cannot follow operation {index} ({type(operation).__name__}) of"
            f" {app_label}.{visit.name}: {exc}.",
            hint="Django's migrate would fail here too; fix that migration.",
        ) from exc
    if isinstance(operation, dj_migrations.CreateModel):
        model = state.models.get((app_label, operation.name_lower))
        if model is not None:
            visit.created_tables.add(table_of(model, visit.max_name_length))
