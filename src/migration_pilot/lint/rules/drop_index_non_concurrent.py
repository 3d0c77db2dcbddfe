"""Dropping an index without CONCURRENTLY on a table that already exists.

## What it does
Flags `RemoveIndex`, `AlterIndexTogether` that removes an entry, `AlterField`
that turns `db_index=True` off, and RunSQL `DROP INDEX` without
`CONCURRENTLY`, on a table created before this migration.

## Why is this dangerous?
`DROP INDEX` takes an ACCESS EXCLUSIVE lock on the index's table. The drop
itself is quick, but the lock must first wait for every query already running
on the table, and while it waits every new query, reads included, queues
behind it. One slow report or a long transaction turns a "quick" drop into an
outage of the table.
See https://www.postgresql.org/docs/current/sql-dropindex.html

## Safe alternative
Drop the index with `RemoveIndexConcurrently` in a migration of its own with
`atomic = False`; `DROP INDEX CONCURRENTLY` waits for running queries without
blocking new ones:

    from django.contrib.postgres.operations import RemoveIndexConcurrently
    from django.db import migrations


    class Migration(migrations.Migration):
        atomic = False
        dependencies = [("testapp", "0001_initial")]
        operations = [
            RemoveIndexConcurrently("invoice", "invoice_status_idx"),
        ]

For a field index (`db_index=True` turned off), drop the field's indexes
concurrently first, in a migration with `atomic = False` whose state gets the
old field without its index (`SeparateDatabaseAndState` around a RunPython
that finds the indexes by column, as Django's own `AlterField` does, so their
names are right even after a table rename). Then apply the original
`AlterField` in the next migration: everything else it does (a type change,
dropping a foreign key, a column rename) still happens, and its index drop
has nothing left to do. When `db_index` was the only change, the first
migration is all there is. The finding renders both with your names.

## Not flagged
- `RemoveIndexConcurrently` (see `concurrent-in-atomic` for its own pitfall).
- Indexes on tables created earlier in the same migration.
- `lint --static`: an `AlterField` to a field class static mode does not know that states
  neither `db_index` nor `unique`: the class may index the column itself.
- `RemoveConstraint`: a plain unique, check or exclusion constraint is
  dropped with `ALTER TABLE ... DROP CONSTRAINT`, which has no concurrent form.
  (Django drops a `UniqueConstraint` with a condition or expressions with
  `DROP INDEX`; this rule does not judge constraints.)
- `RemoveField` of an indexed column: the index goes with the column
  (see `drop-column`).
- An index that becomes a unique constraint in the same `AlterField`: that
  change is reported by `add-unique-non-concurrent`.
- MySQL/MariaDB (InnoDB drops secondary indexes in place, LOCK=NONE) and
  SQLite.

## Databases
PostgreSQL (all supported versions).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.db import migrations
from django.db.models import Field
from pglast import ast
from pglast.enums import ObjectType

from migration_pilot.analysis.schema import table_of
from migration_pilot.backends.base import DDL
from migration_pilot.diagnostics import Severity
from migration_pilot.lint import render
from migration_pilot.lint.context import OperationContext, SqlContext
from migration_pilot.lint.registry import Finding, Rule
from migration_pilot.lint.static.placeholders import not_stated

rule = Rule(__name__, severity=Severity.ERROR, vendors={"postgresql"}, category="locks")

HINT = "Use RemoveIndexConcurrently in its own migration with atomic = False."
SQL_HINT = "Use DROP INDEX CONCURRENTLY in a migration with atomic = False."
STATE_HINT = (
    "Drop the index with DROP INDEX CONCURRENTLY in RunSQL inside SeparateDatabaseAndState,"
    " in a migration with atomic = False."
)


def _message(index_name: str, table: str | None) -> str:
    where = f" from {table}" if table else ""
    return (
        f"Dropping index {index_name}{where} blocks reads and writes on {table or 'its table'}"
        " while DROP INDEX waits for and holds its ACCESS EXCLUSIVE lock."
    )


@rule.on(migrations.RemoveIndex)
def check_remove_index(ctx: OperationContext, op: migrations.RemoveIndex) -> Iterator[Finding]:
    table = ctx.table(op.model_name)
    if ctx.is_new_table(table):
        return
    yield Finding(
        message=_message(op.name, table),
        hint=HINT,
        lock=ctx.lock(DDL.DROP_INDEX, table),
        safe_alternative=render.migration(
            [render.call("RemoveIndexConcurrently", op.model_name, op.name)],
            dependencies=ctx.migration.dependencies,
            atomic=False,
        ),
    )


@rule.on(migrations.AlterIndexTogether)
def check_index_together(ctx: OperationContext, op: Any) -> Iterator[Finding]:
    table = ctx.table(op.name)
    model = ctx.model(op.name)
    if model is None or ctx.is_new_table(table):
        return
    before = {tuple(f) for f in (model.options.get("index_together") or ())}
    for fields in sorted(before - {tuple(f) for f in (op.option_value or ())}):
        yield Finding(
            message=_message(f"on ({', '.join(fields)})", table),
            hint=STATE_HINT,
            lock=ctx.lock(DDL.DROP_INDEX, table),
        )


@rule.on(migrations.AlterField)
def check_alter_field(ctx: OperationContext, op: migrations.AlterField) -> Iterator[Finding]:
    table = ctx.table(op.model_name)
    old, new = ctx.field(op.model_name, op.name), op.field
    if old is None or ctx.is_new_table(table) or getattr(old, "primary_key", False):
        return
    if not getattr(old, "db_index", False) or getattr(old, "unique", False):
        return
    if getattr(new, "db_index", False) or getattr(new, "unique", False):
        return
    if not_stated(new, "db_index") and not_stated(new, "unique"):
        return  # static lint: a field class it does not know may index the column itself
    column = ctx.column(op.name, old)
    if column is None:
        return
    yield Finding(
        message=_message(f"on {column}", table),
        hint=STATE_HINT,
        lock=ctx.lock(DDL.DROP_INDEX, table),
        safe_alternative=_field_index_code(ctx, op, old),
    )


_DROP_CODE = '''
def drop_{name}_indexes(apps, schema_editor):
    """Drop the indexes Django built for {model}.{field}, concurrently, found as Django finds them."""
    model = apps.get_model({app!r}, {model!r})
    column = model._meta.get_field({field!r}).column
    declared = {{index.name for index in model._meta.indexes}}
    for name in schema_editor._constraint_names(model, [column], index=True, type_="idx",
                                                exclude=declared):
        schema_editor.execute("DROP INDEX CONCURRENTLY IF EXISTS " + schema_editor.quote_name(name))


def create_{name}_indexes(apps, schema_editor):
    """Build them again as Django names them (with any _like twin), concurrently."""
    model = apps.get_model({app!r}, {model!r})
    field = model._meta.get_field({field!r})
    for statement in schema_editor._field_indexes_sql(model, field):
        schema_editor.execute(str(statement).replace("CREATE INDEX ", "CREATE INDEX CONCURRENTLY ", 1))
'''


def _field_index_code(ctx: OperationContext, op: migrations.AlterField, old: Field) -> str:
    """Drop the field's indexes concurrently (state: the old field without them); then the
    original AlterField, whose every other effect (type, constraints, column) stays in the database.

    The indexes are found by column through Django's own lookup when the migration runs, so
    their names are right even after the table was renamed since they were built.
    """
    _, _, args, kwargs = old.deconstruct()
    kwargs["db_index"] = False
    unindexed = type(old)(*args, **kwargs)
    name = "".join(ch if ch.isalnum() else "_" for ch in f"{op.model_name_lower}_{op.name_lower}")
    same = unindexed.deconstruct()[1:] == op.field.deconstruct()[1:]
    state_op = render.call("migrations.AlterField", op.model_name, op.name,
                           op.field if same else unindexed)
    run = render.raw(f"migrations.RunPython(drop_{name}_indexes, create_{name}_indexes)")
    first = render.migration(
        [render.call("migrations.SeparateDatabaseAndState",
                     database_operations=render.raw(f"[{run.text}]"),
                     state_operations=render.raw(f"[{state_op.text}]", *state_op.imports))],
        dependencies=ctx.migration.dependencies, atomic=False,
        comment=f"In place of this operation: {op.model_name}.{op.name}'s indexes, dropped"
        " concurrently.")
    first = render.with_code(first, _DROP_CODE.format(
        name=name, app=ctx.app_label, model=op.model_name_lower, field=op.name))
    if same:
        return first
    second = render.migration(
        [render.call("migrations.AlterField", op.model_name, op.name, op.field)],
        dependencies=[(ctx.app_label, ctx.migration.name)], atomic=ctx.migration.atomic,
        comment=f"Save as {ctx.migration.name}_rest.py: the rest of the original AlterField.")
    return f"{first}\n\n# --- next migration ---\n{second}"


def _table_of_index(ctx: SqlContext, name: str) -> str | None:
    """The table of an index (or index-backed constraint) Django's state knows by `name`."""
    for model in ctx.state.models.values():
        options = model.options
        named = [*(options.get("indexes") or ()), *(options.get("constraints") or ())]
        if any(getattr(item, "name", None) == name for item in named):
            return table_of(model, ctx.profile.max_name_length())
    return None


@rule.on_sql(ast.DropStmt)
def check_sql(ctx: SqlContext, stmt: ast.DropStmt) -> Iterator[Finding]:
    if stmt.removeType != ObjectType.OBJECT_INDEX or stmt.concurrent:
        return
    for names in stmt.objects or ():
        index_name = str(names[-1].sval)
        table = _table_of_index(ctx, index_name)
        if table is not None and ctx.is_new_table(table):
            continue
        yield Finding(
            message=_message(index_name, table),
            hint=SQL_HINT,
            lock=ctx.lock(DDL.DROP_INDEX, table) if table is not None else None,
        )
