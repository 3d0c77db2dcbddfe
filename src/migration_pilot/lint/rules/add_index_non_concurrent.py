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

For a field index (`db_index=True`, a ForeignKey's own index, or `unique=True`
turned into `db_index=True`), keep the field as it is in the model state and
leave the index out of the database change with `SeparateDatabaseAndState`;
then build the index in the next migration, with `atomic = False`, by
`CREATE INDEX CONCURRENTLY` under the name Django gives it (its
`varchar_pattern_ops` twin for text columns in one more migration). The
finding renders the migrations with SQL written by Django's own schema editor
for your field.

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
from migration_pilot.lint import render, sqlgen
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


def _indexed(field: Any) -> bool:
    """Django's `_field_should_be_indexed`: db_index without unique (unique has its own index)."""
    return bool(field is not None and getattr(field, "db_index", False)
                and not getattr(field, "unique", False) and not field.many_to_many)


def _field_fix(ctx: OperationContext, op: Any, kind: str) -> str | None:
    """The field change without its index, then Django's own index SQL, built concurrently.

    Every other effect of the operation stays (the column, its type, its
    constraints); the index gets the name and operator class Django gives it.
    """
    indexes = sqlgen.field_indexes_after(ctx.state, ctx.app_label, op, op.model_name, op.name)
    if not indexes:
        return None
    _, _, args, kwargs = op.field.deconstruct()
    kwargs["db_index"] = False
    without_index = type(op.field)(*args, **kwargs)
    state_op = render.call(kind, op.model_name, op.name, op.field)
    database_op = render.call(kind, op.model_name, op.name, without_index)
    first = render.migration(
        [render.call("migrations.SeparateDatabaseAndState",
                     state_operations=render.raw(f"[{state_op.text}]", *state_op.imports),
                     database_operations=render.raw(f"[{database_op.text}]",
                                                    *database_op.imports))],
        dependencies=ctx.migration.dependencies,
        atomic=ctx.migration.atomic,
        comment="In place of this operation: the field without its index.",
    )
    # One index per non-atomic migration: a failure half-way leaves nothing to repair by hand.
    parts, previous = [first], ctx.migration.name
    for number, index in enumerate(indexes, 1):
        name = f"{ctx.migration.name}_index" + ("" if number == 1 else f"_{number}")
        parts.append(render.migration(
            [render.call("migrations.RunSQL", index.create_concurrently,
                         reverse_sql=index.drop_concurrently)],
            dependencies=[(ctx.app_label, previous)],
            atomic=False,
            comment=f"Save as {name}.py: index {index.name}, as Django names it, built"
            " concurrently.",
        ))
        previous = name
    return "\n\n# --- next migration ---\n".join(parts)


@rule.on(migrations.AddField)
def check_add_field(ctx: OperationContext, op: migrations.AddField) -> Iterator[Finding]:
    table = ctx.table(op.model_name)
    field = op.field
    if ctx.is_new_table(table) or not _indexed(field):
        return
    column = ctx.column(op.name, field)
    yield _finding(ctx, table, f"on {column}", _field_fix(ctx, op, "migrations.AddField"))


@rule.on(migrations.AlterField)
def check_alter_field(ctx: OperationContext, op: migrations.AlterField) -> Iterator[Finding]:
    table = ctx.table(op.model_name)
    old = ctx.field(op.model_name, op.name)
    new = op.field
    if old is None or ctx.is_new_table(table):
        return
    if _indexed(new) and not _indexed(old):
        yield _finding(ctx, table, f"on {ctx.column(op.name, new)}",
                       _field_fix(ctx, op, "migrations.AlterField"))


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
