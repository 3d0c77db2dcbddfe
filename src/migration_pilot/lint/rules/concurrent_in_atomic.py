"""A CONCURRENTLY operation inside an atomic migration.

## What it does
Flags `AddIndexConcurrently` and `RemoveIndexConcurrently`
(`django.contrib.postgres.operations`), this package's online operations
(`AddIndexOnline`, `AddFieldOnline`, ... and `Backfill`, which run their steps
outside a transaction), and RunSQL `CREATE INDEX CONCURRENTLY`,
`DROP INDEX CONCURRENTLY`, `REINDEX ... CONCURRENTLY` and
`ALTER TABLE ... DETACH PARTITION ... CONCURRENTLY`, in a migration that Django
runs in a transaction (`atomic = True`, the default). Also flags such a
statement that shares one SQL string with other statements even in a
non-atomic migration: PostgreSQL runs a multi-statement string as one
implicit transaction. The same for RunSQL `VACUUM`, `ALTER SYSTEM`,
`CREATE/DROP DATABASE` and `CREATE/DROP TABLESPACE`, which never run in a
transaction block, and for `ALTER TYPE ... ADD VALUE` followed, in the same
transaction, by a use of the new value (PostgreSQL 12 and later accept the
ADD VALUE there, but not a use of the value before it commits).

## Why is this dangerous?
PostgreSQL refuses these statements inside a transaction block ("cannot run
inside a transaction block"), and Django's concurrent operations refuse to
start ("cannot be executed inside a transaction (set atomic = False on the
migration)"). The migration fails on every deploy; the lint catches it
before the deploy does.
See https://www.postgresql.org/docs/current/sql-createindex.html#SQL-CREATEINDEX-CONCURRENTLY

## Safe alternative
Put the operation in a migration of its own with `atomic = False`:

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

Keep other operations out of it: without a transaction, a failure halfway
leaves the earlier ones applied and the migration unrecorded.

## Not flagged
- The same operations in a migration with `atomic = False`, each concurrent
  statement in a SQL string of its own (`RunSQL([...])` items run separately).
- Plain `CREATE INDEX`, `DROP INDEX` and `REINDEX` (see
  `add-index-non-concurrent`, `drop-index-non-concurrent`,
  `reindex-non-concurrent`).
- MySQL/MariaDB and SQLite: the Django operations are PostgreSQL-only, and
  RunSQL for them is not parsed as PostgreSQL.

## Databases
PostgreSQL (all supported versions).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pglast import ast
from pglast.enums import AlterTableType, ObjectType
from pglast.stream import RawStream

from migration_pilot.diagnostics import Severity
from migration_pilot.lint import render
from migration_pilot.lint.context import OperationContext, SqlContext
from migration_pilot.lint.registry import Finding, Rule
from migration_pilot.lint.rules.reindex_non_concurrent import reindex_is_concurrent

try:
    from django.contrib.postgres.operations import AddIndexConcurrently, RemoveIndexConcurrently
except ImportError:  # no psycopg: no migration can use these operations either
    CONCURRENT_OPERATIONS: tuple[type, ...] = ()
else:
    CONCURRENT_OPERATIONS = (AddIndexConcurrently, RemoveIndexConcurrently)

rule = Rule(__name__, severity=Severity.ERROR, vendors={"postgresql"}, category="locks")

from migration_pilot.operations import (  # noqa: E402 - after the rule, as the other operation imports
    AddConstraintOnline,
    AddFieldOnline,
    AddIndexOnline,
    AlterFieldOnline,
    Backfill,
    RemoveIndexOnline,
    RenameFieldContract,
    RenameFieldOnline,
)

OUTSIDE_A_TRANSACTION = (AddIndexOnline, RemoveIndexOnline, AddConstraintOnline, AddFieldOnline, AlterFieldOnline,
                         Backfill, RenameFieldOnline, RenameFieldContract)

HINT = "Set atomic = False on the migration, and keep the concurrent operation in a migration of its own."


def _code(ctx: OperationContext, operation: Any) -> str:
    """`operation` alone in a non-atomic migration."""
    code = render.value(operation)
    code.text = code.text.replace("\n", "\n        ")
    if type(operation) in CONCURRENT_OPERATIONS:
        name = type(operation).__name__
        code.text = code.text.replace(f"django.contrib.postgres.operations.{name}(", f"{name}(", 1)
        code.imports = {i for i in code.imports if "django.contrib.postgres.operations" not in i}
        code.imports.add(f"from django.contrib.postgres.operations import {name}")
    return render.migration([code], dependencies=ctx.migration.dependencies, atomic=False)


@rule.on(*CONCURRENT_OPERATIONS)
def check_operation(ctx: OperationContext, op: Any) -> Iterator[Finding]:
    if not ctx.atomic:
        return
    table = ctx.table(op.model_name)
    name = op.index.name if hasattr(op, "index") else op.name
    yield Finding(
        message=(
            f"{type(op).__name__} of index {name} on {table} cannot run inside a transaction,"
            " but this migration is atomic, so migrate fails."
        ),
        hint=HINT,
        safe_alternative=_code(ctx, op),
    )


@rule.on(*OUTSIDE_A_TRANSACTION)
def check_own_operation(ctx: OperationContext, op: Any) -> Iterator[Finding]:
    if not ctx.atomic:
        return
    table = ctx.table(op.model_name)
    yield Finding(
        message=(
            f"{type(op).__name__} on {table} runs its steps outside a transaction (concurrent builds,"
            " VALIDATE, committed batches), but this migration is atomic, so it refuses to run."
        ),
        hint="Set atomic = False on the migration.",
    )


def _sql_finding(ctx: SqlContext, what: str) -> Finding:
    if ctx.atomic:
        return Finding(
            message=(
                f"{what} cannot run inside a transaction block, but this migration is atomic,"
                " so migrate fails."
            ),
            hint=HINT,
            safe_alternative=_code(ctx, ctx.visit.operation),
        )
    return Finding(
        message=(
            f"{what} cannot run inside a transaction block, but it shares one SQL string with"
            f" {ctx.statements_in_call - 1} other statement(s), which PostgreSQL runs as one"
            " implicit transaction, so migrate fails."
        ),
        hint="Give the concurrent statement its own string: RunSQL([\"...\", \"...\"]) runs each item separately.",
    )


@rule.on_sql(ast.IndexStmt)
def check_create_index(ctx: SqlContext, stmt: ast.IndexStmt) -> Iterator[Finding]:
    if ctx.in_transaction and stmt.concurrent:
        unique = "UNIQUE " if stmt.unique else ""
        yield _sql_finding(ctx, f"CREATE {unique}INDEX CONCURRENTLY {stmt.idxname or '(unnamed)'}")


@rule.on_sql(ast.DropStmt)
def check_drop_index(ctx: SqlContext, stmt: ast.DropStmt) -> Iterator[Finding]:
    if ctx.in_transaction and stmt.concurrent and stmt.removeType == ObjectType.OBJECT_INDEX:
        names = ", ".join(str(names[-1].sval) for names in stmt.objects or ())
        yield _sql_finding(ctx, f"DROP INDEX CONCURRENTLY {names}")


@rule.on_sql(ast.ReindexStmt)
def check_reindex(ctx: SqlContext, stmt: ast.ReindexStmt) -> Iterator[Finding]:
    if ctx.in_transaction and reindex_is_concurrent(stmt):
        target = stmt.relation.relname if stmt.relation is not None else stmt.name
        yield _sql_finding(ctx, f"REINDEX CONCURRENTLY {target or ''}".rstrip())


@rule.on_sql(ast.AlterTableStmt)
def check_detach_partition(ctx: SqlContext, stmt: ast.AlterTableStmt) -> Iterator[Finding]:
    if not ctx.in_transaction or stmt.relation is None:
        return
    for cmd in stmt.cmds or ():
        definition: Any = getattr(cmd, "def_", None)
        detaching = getattr(cmd, "subtype", None) == AlterTableType.AT_DetachPartition
        if detaching and getattr(definition, "concurrent", False):
            partition = definition.name.relname if definition.name is not None else "(unknown)"
            yield _sql_finding(
                ctx, f"DETACH PARTITION {partition} CONCURRENTLY from {stmt.relation.relname}")


# Statements PostgreSQL refuses inside any transaction block, concurrent or not (B5).
_NEVER_IN_A_TRANSACTION: dict[type, str] = {
    ast.VacuumStmt: "VACUUM/ANALYZE",
    ast.AlterSystemStmt: "ALTER SYSTEM",
    ast.CreatedbStmt: "CREATE DATABASE",
    ast.DropdbStmt: "DROP DATABASE",
    ast.CreateTableSpaceStmt: "CREATE TABLESPACE",
    ast.DropTableSpaceStmt: "DROP TABLESPACE",
}


@rule.on_sql(*_NEVER_IN_A_TRANSACTION)
def check_never_in_a_transaction(ctx: SqlContext, stmt: Any) -> Iterator[Finding]:
    if not ctx.in_transaction:
        return
    what = _NEVER_IN_A_TRANSACTION[type(stmt)]
    if isinstance(stmt, ast.VacuumStmt):
        what = "VACUUM" if stmt.is_vacuumcmd else "ANALYZE"
        if not stmt.is_vacuumcmd:
            return  # ANALYZE alone runs inside a transaction block
    yield _sql_finding(ctx, what)


@rule.on_sql(ast.AlterEnumStmt)
def check_new_enum_value_used(ctx: SqlContext, stmt: ast.AlterEnumStmt) -> Iterator[Finding]:
    """ALTER TYPE ... ADD VALUE, then a use of that value before the transaction commits.

    From PostgreSQL 12 the ADD VALUE itself may run in a transaction block, but
    the new value cannot be used until that transaction commits ("unsafe use of
    new value"). The use is looked for in the statements that share its
    transaction: the rest of an atomic migration's RunSQL, else the rest of its
    own SQL string. A use from RunPython is not seen.
    """
    value = stmt.newVal
    if not ctx.in_transaction or not value or stmt.oldVal:
        return
    literal = "'" + value.replace("'", "''") + "'"
    if not any(literal in RawStream()(later) for later in _after_adding(ctx, value)):
        return
    type_name = ".".join(str(part.sval) for part in stmt.typeName or ())
    yield Finding(
        message=(
            f"ALTER TYPE {type_name} ADD VALUE {literal} and a later use of {literal} run in one"
            " transaction; PostgreSQL cannot use a new enum value before the transaction that added it"
            " commits (unsafe use of new value), so migrate fails."
        ),
        hint=("Add the value in a migration of its own and use it in the next one (or give the ADD VALUE"
              " its own RunSQL string in a migration with atomic = False)."),
    )


def _after_adding(ctx: SqlContext, value: str) -> Iterator[Any]:
    """The parsed statements that follow the first ADD VALUE of `value` in the same transaction."""
    from django.db.migrations import RunSQL

    from migration_pilot.lint import sql

    seen = False
    for operation in ctx.visit.migration.migration.operations:
        if not isinstance(operation, RunSQL):
            continue
        for text in sql.sql_strings(operation.sql):
            if not ctx.atomic:
                seen = False  # without the migration's transaction, each string is its own
            parsed = sql.parse(text)
            for statement in parsed.statements if parsed.error is None else ():
                if seen:
                    yield statement
                elif isinstance(statement, ast.AlterEnumStmt) and statement.newVal == value:
                    seen = True
