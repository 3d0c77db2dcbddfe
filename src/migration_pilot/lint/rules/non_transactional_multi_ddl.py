"""Several schema changes in one migration on MySQL/MariaDB, which cannot roll DDL back.

## What it does
Flags a migration with more than one schema step when the target is
MySQL/MariaDB: several schema operations, or a RunSQL holding several DDL
statements.

## Why is this dangerous?
MySQL and MariaDB commit every DDL statement implicitly, so Django cannot wrap
the migration in a transaction, whatever `atomic` says. When the second change
fails (a duplicate column, a lock wait timeout, a deploy killed mid-way), the
first one stays applied while Django records nothing. The next `migrate`
starts again from the first operation and fails on the column or index that
already exists; someone has to repair the schema by hand.
See https://dev.mysql.com/doc/refman/8.0/en/implicit-commit.html and
https://docs.djangoproject.com/en/stable/ref/databases/#mysql-notes

## Safe alternative
One schema operation per migration, so that a failure leaves nothing
half-applied and the migration can simply be run again:

    from django.db import migrations, models


    class Migration(migrations.Migration):
        dependencies = [("testapp", "0001_initial")]
        operations = [
            migrations.AddField(
                "customer",
                "nickname",
                models.CharField(max_length=10, null=True),
            ),
        ]

## Not flagged
- Migrations whose schema operations only create tables, and fields, indexes
  and constraints of those tables (such as `0001_initial`): a failure leaves
  empty tables that can be dropped, and nothing else.
- Data operations (RunPython, RunSQL UPDATE/INSERT/DELETE): see
  `mixed-schema-and-data`.
- PostgreSQL and SQLite, whose DDL is transactional.

## Databases
MySQL and MariaDB.
"""

from __future__ import annotations

from collections.abc import Iterator

from django.db import migrations
from django.db.migrations.operations.base import Operation

from migration_pilot.diagnostics import Severity
from migration_pilot.lint import render, sql
from migration_pilot.lint.context import MigrationContext
from migration_pilot.lint.registry import Finding, Rule

rule = Rule(__name__, severity=Severity.WARNING, vendors={"mysql"}, category="hygiene")

HINT = ("Put one schema operation in each migration, so a failure leaves nothing"
        " half-applied.")
NOT_SCHEMA = (migrations.AlterModelOptions, migrations.AlterModelManagers, migrations.RunPython)


def schema_steps(operations: list[Operation], created: set[str]) -> list[tuple[str, int, bool]]:
    """(kind, DDL statements, only touches new tables) for each schema operation."""
    steps: list[tuple[str, int, bool]] = []
    for operation in operations:
        if isinstance(operation, migrations.SeparateDatabaseAndState):
            steps.extend(schema_steps(list(operation.database_operations), created))
        elif isinstance(operation, migrations.RunSQL):
            count = _ddl_count(operation.sql)
            if count:
                steps.append(("RunSQL", count, False))
        elif isinstance(operation, migrations.CreateModel):
            created.add(operation.name_lower)
            steps.append(("CreateModel", 1, True))
        elif not isinstance(operation, NOT_SCHEMA):
            model = getattr(operation, "model_name", None)
            new = isinstance(model, str) and model.lower() in created
            steps.append((type(operation).__name__, 1, new))
    return steps


def _ddl_count(value: object) -> int:
    count = 0
    for text in sql.sql_strings(value):
        parsed = sql.parse(text)
        if parsed.error is not None:
            count += 1
            continue
        count += sum(1 for s in parsed.statements
                     if not isinstance(s, sql.DML_NODES + sql.NEUTRAL_NODES))
    return count


@rule.on_migration
def check_migration(ctx: MigrationContext) -> Iterator[Finding]:
    steps = schema_steps(list(ctx.migration.migration.operations), set())
    total = sum(count for _, count, _ in steps)
    if total < 2 or all(new for _, _, new in steps):
        return
    kinds = ", ".join(f"{kind} ({count} statements)" if count > 1 else kind
                      for kind, count, _ in steps)
    app, name = ctx.migration.app_label, ctx.migration.name
    yield Finding(
        message=(f"Migration {app}.{name} makes {total} schema changes ({kinds}) on"
                 f" {ctx.profile.display_name}, where every DDL statement commits at once:"
                 " if a later one fails, the earlier ones stay applied and Django does not"
                 " record the migration."),
        hint=HINT,
        safe_alternative=render.steps(
            *(f"Move {kind} into a migration of its own"
              + (", one statement per RunSQL" if count > 1 else "") + "."
              for kind, count, _ in steps),
            "Chain them with dependencies, each on the one before.",
        ),
    )
