"""Find the Backfill operations of a migration, with the historical model each one runs on."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import connections
from django.db.migrations.exceptions import AmbiguityError
from django.db.migrations.loader import MigrationLoader

from migration_pilot.exceptions import UnknownBackfillError


@dataclass(frozen=True, slots=True)
class LocatedBackfill:
    """A Backfill at `index` (1-based among the migration's Backfills) in migration app.name."""

    app_label: str
    migration: str
    index: int
    operation: Any
    model: Any
    applied: bool

    @property
    def checkpoint_name(self) -> str:
        return str(self.operation.checkpoint_name(self.app_label))


def in_migration(app_label: str, prefix: str, *, using: str) -> list[LocatedBackfill]:
    """The Backfills of the migration `prefix` of `app_label` (Django's prefix matching)."""
    from migration_pilot.operations import Backfill

    loader = MigrationLoader(connections[using], ignore_no_migrations=True)
    if app_label not in loader.migrated_apps:
        raise UnknownBackfillError(f"App {app_label!r} has no migrations.",
                                   hint="Name an installed app with migrations, e.g. 'pilot backfill shop 0007'.")
    try:
        migration = loader.get_migration_by_prefix(app_label, prefix)
    except AmbiguityError:
        raise UnknownBackfillError(f"More than one migration of {app_label} starts with {prefix!r}.",
                                   hint="Give more of its name.") from None
    except KeyError:
        raise UnknownBackfillError(f"App {app_label!r} has no migration {prefix!r}.",
                                   hint="Run 'python manage.py showmigrations' to list them.") from None
    key = (app_label, migration.name)
    state = loader.project_state(key, at_end=False)
    found: list[LocatedBackfill] = []
    for operation in migration.operations:
        if isinstance(operation, Backfill):
            model = state.apps.get_model(app_label, operation.model_name)
            found.append(LocatedBackfill(app_label, migration.name, len(found) + 1, operation, model,
                                         key in loader.applied_migrations))
        operation.state_forwards(app_label, state)
    if not found:
        raise UnknownBackfillError(f"Migration {app_label}.{migration.name} has no Backfill operation.",
                                   hint="Name the migration that contains the Backfill.")
    return found


def by_checkpoint_name(name: str, *, using: str) -> LocatedBackfill | None:
    """The migration Backfill whose checkpoint is `name`, searching every migration; None if none."""
    from migration_pilot.operations import Backfill

    loader = MigrationLoader(connections[using], ignore_no_migrations=True)
    for (app_label, migration_name), migration in sorted(loader.disk_migrations.items()):
        backfills = [op for op in migration.operations if isinstance(op, Backfill)]
        if any(op.checkpoint_name(app_label) == name for op in backfills):
            for located in in_migration(app_label, migration_name, using=using):
                if located.checkpoint_name == name:
                    return located
    return None
