"""Undo a migration whose transaction committed but whose after-commit steps failed.

(And the mirror for a rollback: `redo_committed_part` re-applies a migration
whose reverse committed its transactional part before an after-commit step
failed, so it is applied as its record says.)

The online form runs part of a migration after its transaction commits. When
such a step fails for good (duplicates under a new unique index, rows that
break a constraint being validated, the lock-wait budget spent), the
migration is half-applied and not recorded. To keep the deploy's promise
that a failed migration leaves nothing behind, it is unapplied at once with
Django's own reverse operations, in one transaction, tolerating the objects
the failed steps never created (each statement runs in a savepoint; "does
not exist" errors are skipped).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from migration_pilot.pipeline.timeouts import sqlstate

# undefined_table, undefined_column, undefined_object: what a step that never ran did not create.
_NOT_THERE = {"42P01", "42703", "42704"}
# duplicate_table, duplicate_object, duplicate_column: what a step that never ran did not remove.
_ALREADY_THERE = {"42P07", "42710", "42701"}


class _TolerantMixin:
    """Runs each statement in a savepoint and skips the ones whose object is not there."""

    skipped: list[str]
    tolerated: frozenset[str] = frozenset(_NOT_THERE)

    def execute(self, sql: Any, params: Any = ()) -> Any:
        connection = self.connection  # type: ignore[attr-defined]
        if not connection.in_atomic_block:
            return super().execute(sql, params)  # type: ignore[misc]
        savepoint = connection.savepoint()
        try:
            result = super().execute(sql, params)  # type: ignore[misc]
        except Exception as exc:
            if sqlstate(exc) not in self.tolerated:
                raise
            connection.savepoint_rollback(savepoint)
            self.skipped.append(str(sql)[:200])
            return None
        connection.savepoint_commit(savepoint)
        return result


@contextlib.contextmanager
def _tolerant_editors(connection: Any, skipped: list[str],
                      tolerated: frozenset[str] = frozenset(_NOT_THERE)) -> Iterator[None]:
    previous = connection.__dict__.get("SchemaEditorClass")
    base = type(connection).SchemaEditorClass
    connection.SchemaEditorClass = type(f"Tolerant{base.__name__}", (_TolerantMixin, base),
                                        {"skipped": skipped, "tolerated": tolerated})
    try:
        yield
    finally:
        if previous is None:
            del connection.SchemaEditorClass
        else:
            connection.SchemaEditorClass = previous


def undo_committed_part(connection: Any, executor: Any, state_before: Any, migration: Any) -> str | None:
    """Unapply `migration`'s committed part; None when done, else why it could not be (one line)."""
    skipped: list[str] = []
    try:
        with _tolerant_editors(connection, skipped):
            executor.unapply_migration(state_before.clone(), migration)
    except Exception as exc:
        return f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}"
    return None


def redo_committed_part(connection: Any, migration: Any) -> str | None:
    """Re-apply `migration` after its reverse committed part-way; None when done, else why not (one line).

    The migration is still recorded as applied, so nothing is recorded here:
    its operations run forwards again, skipping what is still there.
    """
    skipped: list[str] = []
    try:
        with (_tolerant_editors(connection, skipped, frozenset(_ALREADY_THERE)),
              connection.schema_editor(atomic=True) as editor):
            migration.apply(_state_before(migration), editor)
    except Exception as exc:
        return f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}"
    return None


def _state_before(migration: Any) -> Any:
    """The state `migration` starts from (the graph's own answer)."""
    from django.db.migrations.loader import MigrationLoader

    loader = MigrationLoader(None, ignore_no_migrations=True)
    return loader.project_state((migration.app_label, migration.name), at_end=False)
