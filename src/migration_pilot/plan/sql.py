"""Forward and backward SQL of each migration, the way `sqlmigrate` collects it.

Collected against the live connection with Django's schema editor in
collect_sql mode: nothing is executed. Some schema editor calls look up
constraint names in the live database; when the objects they look for do not
exist yet (earlier migrations of the same plan are not applied), collection
fails for that migration and the plan says so instead of printing nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.migrations.state import ProjectState


@dataclass(frozen=True, slots=True)
class CollectedSql:
    """Statements of one direction, or why they could not be collected."""

    statements: tuple[str, ...]
    error: str | None = None


def collect(connection: Any, migration: Any, state: ProjectState, *, backwards: bool) -> CollectedSql:
    """SQL for applying (or unapplying) `migration` on top of `state` (state is not changed)."""
    try:
        with connection.schema_editor(collect_sql=True, atomic=migration.atomic) as editor:
            if backwards:
                migration.unapply(state.clone(), editor, collect_sql=True)
            else:
                migration.apply(state.clone(), editor, collect_sql=True)
    except Exception as exc:  # any failure here is the schema editor's, reported per migration
        return CollectedSql((), f"{type(exc).__name__}: {exc}")
    return CollectedSql(tuple(editor.collected_sql))
