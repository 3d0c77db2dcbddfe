"""A migration named 0042_auto_20250519_1502: the name Django gives when it cannot describe it.

## What it does
Flags migrations whose name matches `NNNN_auto_YYYYMMDD_HHMM`, the name
`makemigrations` falls back to when the changes are too varied to name.

## Why is this dangerous?
It is not dangerous to the database. It is to the people who read
`showmigrations`, review a pull request or pick the target of a rollback under
pressure: `0042_auto_20250519_1502` says when, not what, so the one migration
that matters has to be found by opening every file. Auto-named migrations also
tend to bundle unrelated changes, which is how they got that name.

## Safe alternative
Rename the migration before it is applied anywhere: run
`makemigrations --name <what_it_does>` instead (or rename the file), and update
the `dependencies` of later migrations that name it. Once a migration has been
applied to a shared database, leave its name alone: Django records applied
migrations by name, and a renamed one would run again. Suppress the finding
with a reason instead.

## Not flagged
- `0001_initial`, squashed migrations (`0001_squashed_0004_...`) and merge
  migrations named by hand.
- Names that only contain "auto" (`0003_order_autoship`).

## Databases
All: PostgreSQL, MySQL/MariaDB and SQLite (naming does not depend on the database).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from migration_pilot.diagnostics import Severity
from migration_pilot.lint import render
from migration_pilot.lint.context import MigrationContext
from migration_pilot.lint.registry import Finding, Rule

rule = Rule(__name__, severity=Severity.INFO, category="hygiene")

AUTO_NAME = re.compile(r"\d{4}_auto_\d{8}_\d{4}")


@rule.on_migration
def check_migration(ctx: MigrationContext) -> Iterator[Finding]:
    name = ctx.migration.name
    if not AUTO_NAME.fullmatch(name):
        return
    number = name.split("_", 1)[0]
    app = ctx.migration.app_label
    yield Finding(
        message=(f"Migration {app}.{name} has the name Django gives when it cannot describe"
                 " the change, so its name says nothing about what it does."),
        hint=("Rename it with a descriptive name (makemigrations --name) before it is"
              " applied anywhere, and update later migrations that depend on it."),
        safe_alternative=render.steps(
            f"Rename {name}.py to {number}_<what_it_does>.py (or recreate it with"
            f" 'manage.py makemigrations {app} --name <what_it_does>').",
            f"Replace ({app!r}, {name!r}) in the dependencies of later migrations.",
            "Only do this while the migration is applied nowhere shared; otherwise"
            " suppress this finding with a reason.",
        ),
    )
