"""Validating a NOT VALID constraint in the same transaction that added it.

## What it does
Flags `ValidateConstraint` and RunSQL `ALTER TABLE ... VALIDATE CONSTRAINT`
in an atomic migration that earlier added the same constraint `NOT VALID`
(with `AddConstraintNotValid` or RunSQL `ADD CONSTRAINT ... NOT VALID`).

## Why is this dangerous?
`NOT VALID` exists so that the strong lock of `ADD CONSTRAINT` is held only for
a moment, and the scan happens later under SHARE UPDATE EXCLUSIVE, which
blocks neither reads nor writes. Inside one transaction the lock taken by the
`ADD` (ACCESS EXCLUSIVE for a CHECK, SHARE ROW EXCLUSIVE on both tables for a
foreign key) is kept until COMMIT, so the validation scan runs while every
query on the table waits: the same outage as adding the constraint validated.
See https://www.postgresql.org/docs/current/sql-altertable.html#SQL-ALTERTABLE-DESC-VALIDATE-CONSTRAINT

## Safe alternative
Keep the `NOT VALID` addition where it is and validate in the next migration,
which runs in its own transaction:

    from django.contrib.postgres.operations import ValidateConstraint
    from django.db import migrations


    class Migration(migrations.Migration):
        dependencies = [("testapp", "0001_initial")]
        operations = [
            ValidateConstraint("invoice", "invoice_amount_gte_0"),
        ]

(Its dependency is the migration that added the constraint `NOT VALID`.)

## Not flagged
- Validation in a later migration.
- Migrations with `atomic = False`: Django runs each operation, and each
  statement of a RunSQL, in its own transaction, so the `ADD` lock is released
  before the scan starts.
- Validating a constraint this migration did not add: only the brief
  SHARE UPDATE EXCLUSIVE lock is taken.
- Tables created earlier in the same migration.

## Databases
PostgreSQL (all supported versions); only PostgreSQL has `NOT VALID`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.db.migrations.operations.base import Operation
from pglast import ast
from pglast.enums import AlterTableType, ConstrType

from migration_pilot.backends.base import DDL
from migration_pilot.diagnostics import Severity
from migration_pilot.lint import render
from migration_pilot.lint.context import OperationContext, SqlContext
from migration_pilot.lint.registry import Finding, Rule

rule = Rule(__name__, severity=Severity.ERROR, vendors={"postgresql"}, category="locks")

HINT = "Validate in the next migration, so the scan runs in its own transaction."
_FOREIGN_KEY = "foreign-key:"
"""Prefix of the extra entry that marks a recorded NOT VALID constraint as a foreign key."""


def _finding(ctx: OperationContext, table: str, name: str, code: render.Code) -> Finding:
    foreign_key = f"{_FOREIGN_KEY}{name}" in ctx.migration.not_valid_constraints
    kind = DDL.ADD_FOREIGN_KEY if foreign_key else DDL.ADD_CHECK
    lock = ctx.lock(kind, table)
    return Finding(
        message=(
            f"Validating constraint {name} in the transaction that added it NOT VALID keeps"
            f" {lock.mode.value} on {table} while every row is checked, blocking"
            f" {lock.blocks.describe()}."
        ),
        hint=HINT,
        lock=lock,
        safe_alternative=render.migration(
            [code], dependencies=[(ctx.app_label, ctx.migration.name)],
            comment="The next migration: validation alone blocks neither reads nor writes.",
        ),
    )


def record_not_valid(ctx: OperationContext, op: Any) -> Iterator[Finding]:
    ctx.migration.not_valid_constraints.add(str(op.constraint.name))
    return iter(())


def check_validate(ctx: OperationContext, op: Any) -> Iterator[Finding]:
    table = ctx.table(op.model_name)
    if not ctx.atomic or op.name not in ctx.migration.not_valid_constraints:
        return
    if ctx.is_new_table(table):
        return
    yield _finding(ctx, table, op.name, render.call("ValidateConstraint", op.model_name, op.name))


def _postgres_operations() -> tuple[type[Operation], type[Operation]] | None:
    """AddConstraintNotValid and ValidateConstraint; None without a PostgreSQL driver."""
    try:
        from django.contrib.postgres import operations
    except ImportError:  # no psycopg: no project can use these operations either
        return None
    return operations.AddConstraintNotValid, operations.ValidateConstraint


_OPERATIONS = _postgres_operations()
if _OPERATIONS is not None:
    rule.on(_OPERATIONS[0])(record_not_valid)
    rule.on(_OPERATIONS[1])(check_validate)


@rule.on_sql(ast.AlterTableStmt)
def check_sql(ctx: SqlContext, stmt: ast.AlterTableStmt) -> Iterator[Finding]:
    if stmt.relation is None:
        return
    table = str(stmt.relation.relname)
    recorded = ctx.migration.not_valid_constraints
    for cmd in stmt.cmds or ():
        subtype = getattr(cmd, "subtype", None)
        constraint = getattr(cmd, "def_", None)
        if subtype == AlterTableType.AT_AddConstraint and isinstance(constraint, ast.Constraint):
            if constraint.skip_validation and constraint.conname:
                recorded.add(str(constraint.conname))
                if constraint.contype == ConstrType.CONSTR_FOREIGN:
                    recorded.add(f"{_FOREIGN_KEY}{constraint.conname}")
        elif subtype == AlterTableType.AT_ValidateConstraint and cmd.name in recorded:
            if not ctx.atomic or ctx.is_new_table(table):
                continue
            sql = f"ALTER TABLE {render.pg_identifier(table)} VALIDATE CONSTRAINT {render.pg_identifier(cmd.name)}"
            code = render.call("migrations.RunSQL", sql,
                               reverse_sql=render.raw("migrations.RunSQL.noop"))
            yield _finding(ctx, table, str(cmd.name), code)
