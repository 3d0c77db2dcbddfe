"""A migration with atomic = False and several steps can stop half-way.

## What it does
Flags a migration with `atomic = False` that has more than one database step:
several operations, or a RunSQL holding several statements (Django runs them
one by one). State-only operations and the state side of
SeparateDatabaseAndState do not count.

## Why is this dangerous?
Without the migration's transaction each step commits on its own. When step
two fails (a lock timeout, a duplicate value, a deploy killed mid-way), step
one stays applied but Django records nothing, so the next `migrate` starts the
migration again from step one and fails on the objects it already created, or
repeats a data change. Someone has to repair the database by hand, during an
incident. `atomic = False` is needed for `CREATE INDEX CONCURRENTLY` and for
batched backfills, which is exactly why such a migration should hold that one
operation and nothing else.
See https://docs.djangoproject.com/en/stable/howto/writing-migrations/#non-atomic-migrations

## Safe alternative
One operation per non-atomic migration; everything else goes into ordinary
atomic migrations before or after it:

    from django.contrib.postgres.operations import AddIndexConcurrently
    from django.db import migrations, models


    class Migration(migrations.Migration):
        atomic = False
        dependencies = [("testapp", "0001_initial")]
        operations = [
            AddIndexConcurrently(
                "invoice",
                models.Index(fields=["status"], name="invoice_status_idx"),
            ),
        ]

## Not flagged
- A non-atomic migration with a single operation holding a single statement.
- Atomic migrations.
- MySQL/MariaDB, where DDL is never transactional whatever `atomic` says: see
  `non-transactional-multi-ddl`.

## Databases
PostgreSQL and SQLite, where `atomic` decides whether the migration is one
transaction.
"""

from __future__ import annotations

from collections.abc import Iterator

from django.db import migrations
from django.db.migrations.operations.base import Operation

from migration_pilot.diagnostics import Severity
from migration_pilot.lint import render, sql
from migration_pilot.lint.context import MigrationContext
from migration_pilot.lint.registry import Finding, Rule

rule = Rule(__name__, severity=Severity.WARNING, vendors={"postgresql", "sqlite"},
            category="hygiene")

HINT = ("Give each non-atomic operation a migration of its own and keep the other"
        " operations in atomic migrations.")
STATE_ONLY = (migrations.AlterModelOptions, migrations.AlterModelManagers)


def database_steps(operations: list[Operation]) -> list[tuple[str, int]]:
    """(operation kind, steps) for each operation that touches the database."""
    steps: list[tuple[str, int]] = []
    for operation in operations:
        if isinstance(operation, migrations.SeparateDatabaseAndState):
            steps.extend(database_steps(list(operation.database_operations)))
        elif isinstance(operation, migrations.RunSQL):
            count = statement_count(operation.sql)
            if count:
                steps.append(("RunSQL", count))
        elif not isinstance(operation, STATE_ONLY):
            steps.append((type(operation).__name__, 1))
    return steps


def statement_count(value: object) -> int:
    """Statements Django runs one by one for a RunSQL `sql` value (unparsable text counts once)."""
    count = 0
    for text in sql.sql_strings(value):
        parsed = sql.parse(text)
        count += 1 if parsed.error is not None else len(parsed.statements)
    return count


@rule.on_migration
def check_migration(ctx: MigrationContext) -> Iterator[Finding]:
    if ctx.migration.atomic:
        return
    steps = database_steps(list(ctx.migration.migration.operations))
    total = sum(count for _, count in steps)
    if total < 2:
        return
    kinds = ", ".join(f"{kind} ({count} statements)" if count > 1 else kind
                      for kind, count in steps)
    app, name = ctx.migration.app_label, ctx.migration.name
    yield Finding(
        message=(f"Migration {app}.{name} has atomic = False and {total} database steps"
                 f" ({kinds}): if one fails, the steps before it stay applied and Django"
                 " does not record the migration."),
        hint=HINT,
        safe_alternative=render.steps(
            *(f"Move {kind} into a migration of its own"
              + (", one statement per RunSQL" if count > 1 else "")
              + (" with atomic = False" if index == 0 else "; keep it atomic unless it"
                 " needs atomic = False") + "."
              for index, (kind, count) in enumerate(steps)),
            "Chain them with dependencies, each on the one before.",
        ),
    )
