"""Per-operation journal for migrations whose steps commit one by one.

On databases without transactional DDL (MySQL, MariaDB) every DDL statement
commits on its own, and on every database a migration marked `atomic = False`
(CONCURRENTLY index builds, batched backfills) commits operation by operation:
one that fails at operation 3 leaves operations 1 and 2 applied and the
migration unrecorded.
We apply such migrations the way Django's Migration.apply does (one schema
editor, same atomic wrapping of operations, deferred SQL at the end), writing
after each operation how many have run. A failure part-way marks the run
dirty; deploys refuse until `pilot rollback` has undone exactly those steps.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import transaction
from django.db.migrations.state import ProjectState

from migration_pilot.types import MigrationKey


def apply_journaled(executor: Any, state: ProjectState, migration: Any,
                    on_step: Callable[[int], None]) -> ProjectState:
    """Apply `migration` like MigrationExecutor.apply_migration, reporting each finished operation."""
    connection = executor.connection
    with connection.schema_editor(atomic=migration.atomic) as editor:
        for index, operation in enumerate(migration.operations):
            old_state = state.clone()
            operation.state_forwards(migration.app_label, state)
            atomic_operation = operation.atomic or (migration.atomic and operation.atomic is not False)
            if not editor.atomic_migration and atomic_operation:
                with transaction.atomic(connection.alias):
                    operation.database_forwards(migration.app_label, editor, old_state, state)
            else:
                operation.database_forwards(migration.app_label, editor, old_state, state)
            on_step(index + 1)
        recorded_inside = not editor.deferred_sql
        if recorded_inside:
            _record(executor, migration)
    if not recorded_inside:
        _record(executor, migration)
    return state


def _record(executor: Any, migration: Any) -> None:
    """MigrationExecutor.record_migration, whose signature changed in Django 6.0."""
    import inspect

    parameters = inspect.signature(executor.record_migration).parameters
    if "name" in parameters:
        executor.record_migration(migration.app_label, migration.name)
    else:
        executor.record_migration(migration)


def undo_steps(connection: Any, key: MigrationKey, steps_done: int) -> None:
    """Reverse the first `steps_done` operations of an unrecorded, half-applied migration."""
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    migration = executor.loader.graph.nodes[key]
    before = executor._create_project_state(with_applied_migrations=True)
    states = [before]
    current = before
    for operation in migration.operations[:steps_done]:
        current = current.clone()
        operation.state_forwards(migration.app_label, current)
        states.append(current)
    with connection.schema_editor(atomic=migration.atomic) as editor:
        for index in reversed(range(steps_done)):
            operation = migration.operations[index]
            operation.database_backwards(migration.app_label, editor, states[index + 1], states[index])
