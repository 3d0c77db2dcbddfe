"""Models changed without a migration, as `makemigrations --check` reports.

## What it does
Compares the models with the state the migrations build, using Django's own
autodetector (the project's, when its `makemigrations` command names another
one), with translations deactivated as `makemigrations` does, and names the
operations a new migration would contain. It reports exactly what
`makemigrations --check --dry-run` reports.

## Why is this dangerous?
The code deployed expects a schema no migration creates: queries fail in
production with "column does not exist", and the next developer's
`makemigrations` picks up someone else's change.

## Safe alternative
Create the migration and review it like any other:

    python manage.py makemigrations

## Not flagged
- Apps not being linted.
- Verbose names, help texts and choices that only differ because a
  translation is active (`gettext_lazy` strings evaluated in
  `LANGUAGE_CODE`): `makemigrations` compares them untranslated, and so does
  this rule.

## Databases
All.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.apps import apps as global_apps
from django.db.migrations.autodetector import MigrationAutodetector
from django.db.migrations.questioner import NonInteractiveMigrationQuestioner
from django.db.migrations.state import ProjectState
from django.utils import translation

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


def autodetector_class() -> Any:
    """The autodetector `makemigrations` uses in this project (Django 5.2 lets a project swap it)."""
    from django.core.management import get_commands, load_command_class

    try:
        command = load_command_class(get_commands()["makemigrations"], "makemigrations")
    except Exception:  # no such command, or it fails to import: Django's own autodetector
        return MigrationAutodetector
    found: object = getattr(command, "autodetector", MigrationAutodetector)
    if isinstance(found, type) and issubclass(found, MigrationAutodetector):
        return found
    return MigrationAutodetector


def model_changes(state: ProjectState, graph: Any,
                  labels: set[str] | None = None) -> dict[str, list[Any]]:
    """What `makemigrations --check --dry-run [labels]` would write: {app: [Migration]}.

    Translations are deactivated while comparing, as `makemigrations` does
    (`no_translations`): a lazily translated verbose name evaluated in
    LANGUAGE_CODE is not a model change.
    """
    questioner = _SilentQuestioner(labels or set())
    with translation.override(None):
        autodetector = autodetector_class()(state, ProjectState.from_apps(global_apps), questioner)
        changes: dict[str, list[Any]] = autodetector.changes(
            graph=graph, trim_to_apps=labels or None, convert_apps=labels or None)
    return changes


@rule.on_project
def check(ctx: ProjectContext) -> Iterator[Finding]:
    labels = set(ctx.app_labels)
    if not labels:
        return
    changes = model_changes(ctx.final_state, ctx.loader.graph, labels)
    for app, migrations in sorted(changes.items()):
        if app not in labels:
            continue
        described = [op.describe() for m in migrations for op in m.operations]
        shown = "; ".join(described[:5]) + ("; ..." if len(described) > 5 else "")
        yield Finding(
            message=f"Models in {app} have changes no migration contains: {shown}.",
            hint=f"Run 'python manage.py makemigrations {app}' and commit the migration.",
            app=app,
        )
