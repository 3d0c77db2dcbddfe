"""Adding a CHECK constraint that PostgreSQL validates under ACCESS EXCLUSIVE.

## What it does
Flags `AddConstraint` of a `CheckConstraint` (`condition=` on Django 5.1+,
`check=` before) on a table created before this migration, and RunSQL
`ALTER TABLE ... ADD [CONSTRAINT ...] CHECK (...)` without `NOT VALID`.

## Why is this dangerous?
`ALTER TABLE ... ADD CONSTRAINT ... CHECK` takes ACCESS EXCLUSIVE on the table
and then reads every row to prove the condition holds. Until the scan ends and
the migration commits, every SELECT, INSERT, UPDATE and DELETE on the table
waits, and each waiting request holds a connection.
See https://www.postgresql.org/docs/current/sql-altertable.html#SQL-ALTERTABLE-NOTES

## Safe alternative
Add the constraint `NOT VALID` with Django's own `AddConstraintNotValid`: the
lock is brief, new rows are checked at once, and the migration state gets the
`CheckConstraint` as usual:

    from django.contrib.postgres.operations import AddConstraintNotValid
    from django.db import migrations, models


    class Migration(migrations.Migration):
        dependencies = [("testapp", "0001_initial")]
        operations = [
            AddConstraintNotValid(
                "invoice",
                models.CheckConstraint(
                    condition=models.Q(amount__gte=0), name="invoice_amount_gte_0"
                ),
            ),
        ]

Then validate existing rows in a later migration with
`ValidateConstraint("invoice", "invoice_amount_gte_0")`: it scans under SHARE
UPDATE EXCLUSIVE, which blocks neither reads nor writes. Validating in the
same migration keeps the ACCESS EXCLUSIVE lock through the scan (see
`validate-in-same-transaction`). In raw SQL: `ADD CONSTRAINT ... CHECK (...) NOT
VALID`, then `VALIDATE CONSTRAINT ...` in a later migration.

## Not flagged
- Tables created earlier in the same migration: nothing can be using them yet.
- `AddConstraintNotValid`, and RunSQL constraints added `NOT VALID`.
- Unmanaged and proxy models: Django adds no constraint.
- MySQL/MariaDB and SQLite: they have no `NOT VALID`, so there is no cheaper
  way to offer (MariaDB checks existing rows while it copies the table).

## Databases
PostgreSQL (all supported versions).
"""

from __future__ import annotations

from collections.abc import Iterator

from django.db import migrations
from django.db.models import CheckConstraint
from pglast import ast
from pglast.enums import AlterTableType, ConstrType

from migration_pilot.backends.base import DDL
from migration_pilot.diagnostics import Severity
from migration_pilot.lint import render
from migration_pilot.lint.context import OperationContext, SqlContext
from migration_pilot.lint.registry import Finding, Rule

rule = Rule(__name__, severity=Severity.ERROR, vendors={"postgresql"}, category="locks")

HINT = (
    "Add it with AddConstraintNotValid, then ValidateConstraint in a later migration."
)
SQL_HINT = "Add it NOT VALID, then run VALIDATE CONSTRAINT in a later migration."


def _message(name: str, table: str) -> str:
    return (
        f"Adding check constraint {name} to {table} blocks reads and writes to {table}"
        " while every row is checked."
    )


def _alternative(ctx: OperationContext, op: migrations.AddConstraint) -> str:
    first = render.migration(
        [render.call("AddConstraintNotValid", op.model_name, op.constraint)],
        dependencies=ctx.migration.dependencies,
    )
    second = render.migration(
        [render.call("ValidateConstraint", op.model_name, op.constraint.name)],
        dependencies=[(ctx.app_label, ctx.migration.name)],
        comment="A later migration: validation scans without blocking reads or writes.",
    )
    return f"{first}\n\n# --- next migration ---\n{second}"


@rule.on(migrations.AddConstraint)
def check_add_constraint(ctx: OperationContext, op: migrations.AddConstraint) -> Iterator[Finding]:
    if not isinstance(op.constraint, CheckConstraint):
        return
    table = ctx.table(op.model_name)
    model = ctx.model(op.model_name)
    if ctx.is_new_table(table) or (model is not None and (
            model.options.get("managed", True) is False or model.options.get("proxy"))):
        return
    yield Finding(
        message=_message(op.constraint.name, table),
        hint=HINT,
        lock=ctx.lock(DDL.ADD_CHECK, table),
        safe_alternative=_alternative(ctx, op),
    )


@rule.on_sql(ast.AlterTableStmt)
def check_sql(ctx: SqlContext, stmt: ast.AlterTableStmt) -> Iterator[Finding]:
    if stmt.relation is None:
        return
    table = str(stmt.relation.relname)
    if ctx.is_new_table(table):
        return
    for cmd in stmt.cmds or ():
        constraint = getattr(cmd, "def_", None)
        if (
            getattr(cmd, "subtype", None) != AlterTableType.AT_AddConstraint
            or not isinstance(constraint, ast.Constraint)
            or constraint.contype != ConstrType.CONSTR_CHECK
            or constraint.skip_validation
        ):
            continue
        yield Finding(
            message=_message(str(constraint.conname or "(unnamed)"), table),
            hint=SQL_HINT,
            lock=ctx.lock(DDL.ADD_CHECK, table),
        )
