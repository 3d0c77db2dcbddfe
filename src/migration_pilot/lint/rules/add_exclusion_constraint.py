"""Adding an exclusion constraint to a table that already exists.

## What it does
Flags `AddConstraint` with an `ExclusionConstraint`
(`django.contrib.postgres.constraints`) and RunSQL
`ALTER TABLE ... ADD [CONSTRAINT ...] EXCLUDE ...`, on a table created before
this migration.

## Why is this dangerous?
`ALTER TABLE ... ADD CONSTRAINT ... EXCLUDE` holds an ACCESS EXCLUSIVE lock
while it builds the constraint's index over every row and checks each row
against the others: reads and writes on the table wait for the whole build.
Unlike unique, check and foreign key constraints there is no way around it:
PostgreSQL has no `CREATE INDEX CONCURRENTLY` + `USING INDEX` path for
exclusion constraints, and `NOT VALID` is not supported for them.
See https://www.postgresql.org/docs/current/sql-altertable.html#SQL-ALTERTABLE-DESC-ADD-TABLE-CONSTRAINT

## Safe alternative
There is no online form, so choose when the lock is cheap:

- add the constraint in the migration that creates the table, or while the
  table is still small;
- otherwise run it in a maintenance window, with a short `lock_timeout` so
  the ALTER gives up instead of queueing every query behind it while it waits;
- or, when a window is impossible, enforce the rule in the application or in a
  trigger until one is available.

## Not flagged
- Tables created earlier in the same migration (`CreateModel` with the
  constraint in its options, or `AddConstraint` right after it).
- `CREATE TABLE ... (..., EXCLUDE ...)`: a new table.
- MySQL/MariaDB and SQLite: they have no exclusion constraints.

## Databases
PostgreSQL (all supported versions).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.db import migrations
from pglast import ast
from pglast.enums import AlterTableType, ConstrType

from migration_pilot.backends.base import DDL
from migration_pilot.diagnostics import Severity
from migration_pilot.lint.context import OperationContext, SqlContext
from migration_pilot.lint.registry import Finding, Rule

rule = Rule(__name__, severity=Severity.ERROR, vendors={"postgresql"}, category="locks")

HINT = (
    "PostgreSQL has no concurrent or NOT VALID form: add it while the table is new or small,"
    " or in a maintenance window with lock_timeout set."
)


def _is_exclusion(constraint: object) -> bool:
    """Whether `constraint` is contrib.postgres's ExclusionConstraint (importable only with psycopg)."""
    return any(
        klass.__name__ == "ExclusionConstraint"
        and klass.__module__ == "django.contrib.postgres.constraints"
        for klass in type(constraint).__mro__
    )


def _finding(ctx: OperationContext, name: str, table: str) -> Finding:
    return Finding(
        message=(
            f"Adding exclusion constraint {name} to {table} blocks reads and writes on {table}"
            " while its index is built over every row."
        ),
        hint=HINT,
        lock=ctx.lock(DDL.ADD_EXCLUSION, table),
    )


@rule.on(migrations.AddConstraint)
def check_add_constraint(ctx: OperationContext, op: migrations.AddConstraint) -> Iterator[Finding]:
    table = ctx.table(op.model_name)
    if _is_exclusion(op.constraint) and not ctx.is_new_table(table):
        yield _finding(ctx, op.constraint.name, table)


@rule.on_sql(ast.AlterTableStmt)
def check_sql(ctx: SqlContext, stmt: ast.AlterTableStmt) -> Iterator[Finding]:
    if stmt.relation is None:
        return
    table = str(stmt.relation.relname)
    if ctx.is_new_table(table):
        return
    for cmd in stmt.cmds or ():
        definition: Any = getattr(cmd, "def_", None)
        adding = getattr(cmd, "subtype", None) == AlterTableType.AT_AddConstraint
        if adding and getattr(definition, "contype", None) == ConstrType.CONSTR_EXCLUSION:
            yield _finding(ctx, definition.conname or "(unnamed)", table)
