"""Undo a migration whose transaction committed but whose after-commit steps failed.

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


class _TolerantMixin:
    """Runs each statement in a savepoint and skips the ones whose object is not there."""

    skipped: list[str]

    def execute(self, sql: Any, params: Any = ()) -> Any:
        connection = self.connection  # type: ignore[attr-defined]
        if not connection.in_atomic_block:
            return super().execute(sql, params)  # type: ignore[misc]
        savepoint = connection.savepoint()
        try:
            result = super().execute(sql, params)  # type: ignore[misc]
        except Exception as exc:
            if sqlstate(exc) not in _NOT_THERE:
                raise
            connection.savepoint_rollback(savepoint)
            self.skipped.append(str(sql)[:200])
            return None
        connection.savepoint_commit(savepoint)
        return result


@contextlib.contextmanager
def _tolerant_editors(connection: Any, skipped: list[str]) -> Iterator[None]:
    previous = connection.__dict__.get("SchemaEditorClass")
    base = type(connection).SchemaEditorClass
    connection.SchemaEditorClass = type(f"Tolerant{base.__name__}", (_TolerantMixin, base), {"skipped": skipped})
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
