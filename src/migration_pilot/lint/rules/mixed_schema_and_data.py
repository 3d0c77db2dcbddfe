"""A migration that changes both the schema and the data.

## What it does
Flags a migration that holds schema operations (AddField, AlterField, RunSQL
DDL, ...) and data operations (RunPython, RunSQL that changes rows). A RunSQL
that holds only DDL counts as schema; one that mixes DDL and
UPDATE/INSERT/DELETE is both.

## Why is this dangerous?
On PostgreSQL and SQLite the migration is one transaction: the data step runs
while the schema step's locks are still held. An `AddField` takes an ACCESS
EXCLUSIVE lock on the table, so every read and write of that table waits for
the whole backfill, not for the milliseconds the DDL needed. On MySQL/MariaDB
each DDL statement commits at once: when the data step fails half-way, the
schema change stays applied, Django does not record the migration, and the
next `migrate` fails on the column that already exists.

## Safe alternative
Split it in two: the schema change in one migration, the data change in the
next one, which depends on it. The schema migration:

    from django.db import migrations, models


    class Migration(migrations.Migration):
        dependencies = [("testapp", "0001_initial")]
        operations = [
            migrations.AddField(
                "order",
                "reference",
                models.CharField(max_length=32, null=True),
            ),
        ]

and the data migration, `dependencies = [("testapp", "0002_order_reference")]`,
holding only the RunPython (batched: see `unbatched-backfill`).

## Not flagged
- Migrations with only schema or only data operations.
- On PostgreSQL and SQLite: migrations whose schema operations only create
  tables (and their fields, indexes and constraints): nobody waits on a new
  table. They are still flagged on MySQL/MariaDB, where a failed data step
  leaves the new table behind.
- On PostgreSQL and SQLite: migrations with `atomic = False`, where each step
  commits on its own (see `non-atomic-partial`).
- State-only operations (AlterModelOptions, AlterModelManagers) and the state
  side of SeparateDatabaseAndState.
- Operations for which Django's schema editor emits no SQL (`sqlmigrate`
  prints nothing): an AlterField that changes only attributes the database
  never sees (choices, help_text, verbose_name, validators, on_delete,
  related_name, a db_column equal to the column), a RenameField that keeps
  the column, anything on an unmanaged or proxy model.

## Databases
All: PostgreSQL, MySQL/MariaDB and SQLite.
"""

from __future__ import annotations

from collections.abc import Iterator

from django.db import migrations

from migration_pilot.diagnostics import Severity
from migration_pilot.lint import render
from migration_pilot.lint.context import MigrationContext, OperationSummary
from migration_pilot.lint.registry import Finding, Rule

rule = Rule(__name__, severity=Severity.WARNING, category="data")

HINT = ("Split it: the schema change in one migration, the data change in the next one,"
        " which depends on it.")


@rule.on_migration
def check_migration(ctx: MigrationContext) -> Iterator[Finding]:
    transactional = ctx.profile.transactional_ddl
    if transactional and not ctx.migration.atomic:
        return
    schema = [s for s in ctx.operations if s.schema]
    if transactional:
        created = _created_models(ctx)
        schema = [s for s in schema if not _on_new_table(ctx, s, created)]
    data = [s for s in ctx.operations if s.data]
    if not schema or not data:
        return
    name = f"{ctx.migration.app_label}.{ctx.migration.name}"
    if transactional:
        why = ("the data step runs while the schema step's locks are held, until the"
               " migration commits.")
    else:
        why = ("each DDL statement commits at once, so if the data step fails the schema"
               " change stays applied and Django does not record the migration.")
    yield Finding(
        message=(f"Migration {name} mixes schema changes ({_kinds(schema)}) with data changes"
                 f" ({_kinds(data)}): {why}"),
        hint=HINT,
        safe_alternative=render.steps(
            f"Keep {_kinds(schema)} in {ctx.migration.name}.",
            f"Move {_kinds(data)} to a new migration of {ctx.migration.app_label} with"
            f" dependencies = [({ctx.migration.app_label!r}, {ctx.migration.name!r})].",
            "Point later migrations that depended on this one at the new one.",
        ),
        operation=data[0].index,
    )


def _kinds(summaries: list[OperationSummary]) -> str:
    return ", ".join(dict.fromkeys(s.kind_name for s in summaries))


def _created_models(ctx: MigrationContext) -> set[str]:
    return {op.name_lower for op in ctx.migration.migration.operations
            if isinstance(op, migrations.CreateModel)}


def _on_new_table(ctx: MigrationContext, summary: OperationSummary, created: set[str]) -> bool:
    """Whether the operation creates, or only touches, a model created in this migration."""
    operations = ctx.migration.migration.operations
    if not 0 <= summary.index < len(operations):
        return False
    operation = operations[summary.index]
    if isinstance(operation, migrations.CreateModel):
        return True
    model = getattr(operation, "model_name", None) or (
        getattr(operation, "name", None) if isinstance(
            operation, migrations.AlterUniqueTogether | migrations.AlterIndexTogether) else None)
    return isinstance(model, str) and model.lower() in created
