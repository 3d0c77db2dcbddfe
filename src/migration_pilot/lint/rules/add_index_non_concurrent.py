"""Building an index without CONCURRENTLY on a table that already exists.

## What it does
Flags `AddIndex`, `AlterIndexTogether`, `AddField`/`AlterField` that create an
index (`db_index=True`, including the index Django adds for a ForeignKey), and
RunSQL `CREATE INDEX` without `CONCURRENTLY`, on a table created before this
migration.

## Why is this dangerous?
`CREATE INDEX` holds a SHARE lock on the table until the build ends. Reads go
on; INSERT, UPDATE and DELETE wait, and so does every request that writes. On a
large table the build takes minutes, and each waiting request holds a
connection until the pool runs dry.
See https://www.postgresql.org/docs/current/sql-createindex.html#SQL-CREATEINDEX-CONCURRENTLY

## Safe alternative
Build the index with `AddIndexConcurrently` in a migration of its own with
`atomic = False`:

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

For a field index, keep the field's `db_index=True` in the model and move the
index into the database with `SeparateDatabaseAndState`: the state gets the
field change, the database gets `AddIndexConcurrently` (or
`CREATE INDEX CONCURRENTLY` in RunSQL).

## Not flagged
- Tables created earlier in the same migration: nothing can be using them yet.
- `AddIndexConcurrently` (see `concurrent-in-atomic` for its own pitfall).
- MySQL/MariaDB: InnoDB builds secondary indexes online (ALGORITHM=INPLACE,
  LOCK=NONE). SQLite: no concurrent readers worth protecting.

## Databases
PostgreSQL (all supported versions).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.db import migrations
from django.db.models import Index
from pglast import ast

from migration_pilot.backends.base import DDL
from migration_pilot.diagnostics import Severity
from migration_pilot.lint import render
from migration_pilot.lint.context import OperationContext, SqlContext
from migration_pilot.lint.registry import Finding, Rule

rule = Rule(__name__, severity=Severity.ERROR, vendors={"postgresql"}, category="locks")

HINT = "Use AddIndexConcurrently in its own migration with atomic = False."


def _finding(ctx: OperationContext, table: str, index_name: str, code: str | None) -> Finding:
    return Finding(
        message=(
            f"Adding index {index_name} to {table} blocks writes to {table}"
            " until the index is built."
        ),
        hint=HINT,
        lock=ctx.lock(DDL.CREATE_INDEX, table),
        safe_alternative=code,
    )


def _concurrent_code(ctx: OperationContext, model_name: str, index: Index) -> str:
    return render.migration(
        [render.call("AddIndexConcurrently", model_name, index)],
        dependencies=ctx.migration.dependencies,
        atomic=False,
    )


@rule.on(migrations.AddIndex)
def check_add_index(ctx: OperationContext, op: migrations.AddIndex) -> Iterator[Finding]:
    table = ctx.table(op.model_name)
    if ctx.is_new_table(table):
        return
    yield _finding(ctx, table, op.index.name, _concurrent_code(ctx, op.model_name, op.index))


@rule.on(migrations.AlterIndexTogether)
def check_index_together(ctx: OperationContext, op: Any) -> Iterator[Finding]:
    table = ctx.table(op.name)
    if ctx.is_new_table(table):
        return
    model = ctx.model(op.name)
    before = {tuple(f) for f in (model.options.get("index_together") or ())} if model else set()
    for fields in sorted({tuple(f) for f in (op.option_value or ())} - before):
        yield _finding(ctx, table, f"on ({', '.join(fields)})", None)


@rule.on(migrations.AddField)
def check_add_field(ctx: OperationContext, op: migrations.AddField) -> Iterator[Finding]:
    table = ctx.table(op.model_name)
    field = op.field
    if ctx.is_new_table(table) or field.many_to_many:
        return
    if getattr(field, "db_index", False) and not getattr(field, "unique", False):
        column = ctx.column(op.name, field)
        yield _finding(ctx, table, f"on {column}", None)


@rule.on(migrations.AlterField)
def check_alter_field(ctx: OperationContext, op: migrations.AlterField) -> Iterator[Finding]:
    table = ctx.table(op.model_name)
    old = ctx.field(op.model_name, op.name)
    new = op.field
    if old is None or ctx.is_new_table(table) or getattr(new, "unique", False):
        return
    if getattr(new, "db_index", False) and not getattr(old, "db_index", False):
        yield _finding(ctx, table, f"on {ctx.column(op.name, new)}", None)


@rule.on_sql(ast.IndexStmt)
def check_sql(ctx: SqlContext, stmt: ast.IndexStmt) -> Iterator[Finding]:
    if stmt.concurrent or stmt.unique or stmt.relation is None:
        return
    table = str(stmt.relation.relname)
    if ctx.is_new_table(table):
        return
    yield Finding(
        message=(
            f"Adding index {stmt.idxname or '(unnamed)'} to {table} blocks writes to {table}"
            " until the index is built."
        ),
        hint="Use CREATE INDEX CONCURRENTLY in a migration with atomic = False.",
        lock=ctx.lock(DDL.CREATE_INDEX, table),
    )
