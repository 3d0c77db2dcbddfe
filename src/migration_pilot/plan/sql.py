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
    notes: tuple[str, ...] = ()
    """Why some statements differ from the plain operation's (online forms that write their own SQL)."""


def collect(connection: Any, migration: Any, state: ProjectState, *, backwards: bool) -> CollectedSql:
    """SQL for applying (or unapplying) `migration` on top of `state` (state is not changed).

    The editor carries a `pilot_notes` list: an operation whose online form writes
    statements of its own (online/table_rename.py) adds the reason there.
    """
    try:
        with connection.schema_editor(collect_sql=True, atomic=migration.atomic) as editor:
            editor.pilot_notes = []
            if backwards:
                migration.unapply(state.clone(), editor, collect_sql=True)
            else:
                migration.apply(state.clone(), editor, collect_sql=True)
    except Exception as exc:  # any failure here is the schema editor's, reported per migration
        return CollectedSql((), f"{type(exc).__name__}: {exc}")
    return CollectedSql(tuple(editor.collected_sql), notes=tuple(editor.pilot_notes))


def collect_on_shadow(connection: Any, loader: Any, planned: list[Any],
                      wanted: set[tuple[str, str]]) -> tuple[dict[tuple[str, str], list[str]], str | None]:
    """Forward SQL of `wanted`, captured while really applying the plan to a shadow database.

    The shadow first gets every migration applied on the live database, then the
    planned ones in order up to the last wanted one, so each migration meets the
    schema it would really meet. Returns (SQL by migration, why it was not possible).
    """
    from migration_pilot.drift.shadow import ShadowUnavailable, applied_plan, apply_capturing, shadow_database
    from migration_pilot.exceptions import PilotError

    last = max(i for i, m in enumerate(planned) if (m.app_label, m.name) in wanted)
    migrations = list(applied_plan(loader).migrations) + planned[: last + 1]
    try:
        with shadow_database(connection) as (shadow, _name):
            return apply_capturing(shadow, loader, migrations, lambda *_: None, capture=wanted), None
    except ShadowUnavailable as exc:
        return {}, f"no shadow database to capture it on ({exc})"
    except PilotError as exc:
        return {}, f"capturing it on a shadow database failed: {exc}"
