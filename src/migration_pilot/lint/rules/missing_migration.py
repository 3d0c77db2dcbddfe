"""Models changed without a migration, as `makemigrations --check` reports.

## What it does
Compares the models with the state the migrations build, using Django's own
autodetector, and names the operations a new migration would contain.

## Why is this dangerous?
The code deployed expects a schema no migration creates: queries fail in
production with "column does not exist", and the next developer's
`makemigrations` picks up someone else's change.

## Safe alternative
Create the migration and review it like any other:

    python manage.py makemigrations

## Not flagged
- Apps not being linted.

## Databases
All.
"""

from __future__ import annotations

from collections.abc import Iterator

from django.apps import apps as global_apps
from django.db.migrations.autodetector import MigrationAutodetector
from django.db.migrations.questioner import NonInteractiveMigrationQuestioner
from django.db.migrations.state import ProjectState

from migration_pilot.diagnostics import Severity
from migration_pilot.lint.context import ProjectContext
from migration_pilot.lint.registry import Finding, Rule

rule = Rule(__name__, severity=Severity.ERROR, category="project")


class _SilentQuestioner(NonInteractiveMigrationQuestioner):
    """Answers what makemigrations would ask without logging or exiting.

    Django's non-interactive questioner calls sys.exit(3) for a NOT NULL field
    without a default; lint only needs to know that a change exists, so every
    question gets the answer that still produces an operation.
    """

    def __init__(self, labels: set[str]) -> None:
        super().__init__(specified_apps=labels, dry_run=True, log=self._discard)

    @staticmethod
    def _discard(*_args: object, **_kwargs: object) -> None:
        """Lint output is findings only."""

    def ask_not_null_addition(self, field_name: str, model_name: str) -> None:
        return None

    def ask_not_null_alteration(self, field_name: str, model_name: str) -> None:
        return None

    def ask_auto_now_add_addition(self, field_name: str, model_name: str) -> None:
        return None

    def ask_unique_callable_default_addition(self, field_name: str, model_name: str) -> None:
        return None


@rule.on_project
def check(ctx: ProjectContext) -> Iterator[Finding]:
    labels = set(ctx.app_labels)
    if not labels:
        return
    questioner = _SilentQuestioner(labels)
    autodetector = MigrationAutodetector(
        ctx.final_state, ProjectState.from_apps(global_apps), questioner
    )
    changes = autodetector.changes(graph=ctx.loader.graph, trim_to_apps=labels)
    for app, migrations in sorted(changes.items()):
        described = [op.describe() for m in migrations for op in m.operations]
        shown = "; ".join(described[:5]) + ("; ..." if len(described) > 5 else "")
        yield Finding(
            message=f"Models in {app} have changes no migration contains: {shown}.",
            hint=f"Run 'python manage.py makemigrations {app}' and commit the migration.",
        )
