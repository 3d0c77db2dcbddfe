"""Several leaf migrations in one app: a conflict `migrate` refuses to run.

## What it does
Reports each app whose migration graph has more than one leaf node, as
`makemigrations --check` and `migrate` would refuse.

## Why is this dangerous?
Two branches each added a migration with the same parent. `migrate` stops with
"Conflicting migrations detected", usually in the deploy pipeline after merge,
and the order in which the two apply is undefined.

## Safe alternative
Move the branch's migrations after the main line's, so history stays linear
(renumbered, renamed, dependencies retargeted in every app; refused when a
moved migration is applied anywhere):

    python manage.py pilot fix-conflicts APP

or create a merge migration:

    python manage.py makemigrations --merge

## Not flagged
- Apps with one leaf.

## Databases
All.
"""

from __future__ import annotations

from collections.abc import Iterator

from migration_pilot.diagnostics import Severity
from migration_pilot.lint.context import ProjectContext
from migration_pilot.lint.registry import Finding, Rule

rule = Rule(__name__, severity=Severity.ERROR, category="project")


@rule.on_project
def check(ctx: ProjectContext) -> Iterator[Finding]:
    for app, names in sorted(ctx.loader.detect_conflicts().items()):
        if app not in ctx.app_labels:
            continue
        listed = ", ".join(sorted(names))
        yield Finding(
            message=f"App {app} has {len(names)} leaf migrations ({listed}); migrate will refuse"
            " to run until they are merged.",
            hint=(f"Move the branch's migrations after the main line's with 'python manage.py pilot fix-conflicts"
                  f" {app}', or run 'python manage.py makemigrations --merge {app}'."),
            # Placed on the last leaf by name: usually the newest, the one to rebase.
            app=app,
            migration=sorted(names)[-1],
        )
