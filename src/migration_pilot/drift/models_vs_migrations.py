"""Models against migrations: the changes `makemigrations --check` would write, named one by one."""

from __future__ import annotations

from django.apps import apps
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.state import ProjectState

from migration_pilot.drift.differences import MODELS, Difference


def model_differences(loader: MigrationLoader) -> list[Difference]:
    """One difference per operation missing from the migrations (empty when makemigrations has nothing).

    The same comparison as lint's missing-migration and the deploy's gate
    (translations off, the project's own autodetector), so the three agree.
    """
    from migration_pilot.lint.rules.missing_migration import model_changes

    after = ProjectState.from_apps(apps)
    changes = model_changes(loader.project_state(), loader.graph)
    found = []
    for app_label, migrations in sorted(changes.items()):
        for migration in migrations:
            for operation in migration.operations:
                found.append(Difference(
                    "missing_migration", _table(after, app_label, operation), operation.describe(),
                    "in a migration", "only in models.py",
                    cause=f"The models of {app_label!r} changed without a migration (makemigrations was not run).",
                    fix=f"python manage.py makemigrations {app_label}, review it, commit it.",
                    section=MODELS))
    return found


def _table(state: ProjectState, app_label: str, operation: object) -> str:
    model = getattr(operation, "model_name", None) or getattr(operation, "name", None)
    if not isinstance(model, str):
        return ""
    model_state = state.models.get((app_label, model.lower()))
    if model_state is None:
        return ""
    explicit = model_state.options.get("db_table")
    return str(explicit) if explicit else f"{app_label}_{model_state.name_lower}"
