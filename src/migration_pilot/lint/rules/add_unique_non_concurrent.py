"""Adding a unique constraint or unique index without CONCURRENTLY on an existing table.

## What it does
Flags `AddConstraint` with a `UniqueConstraint` (conditional ones included),
`AlterUniqueTogether` that adds a set, `AddField` of a unique column,
`AlterField` that makes a column unique, and RunSQL
`ALTER TABLE ... ADD [CONSTRAINT ...] UNIQUE (...)`, `ADD COLUMN ... UNIQUE`
and `CREATE UNIQUE INDEX` without `CONCURRENTLY`, on a table created before
this migration.

## Why is this dangerous?
A unique constraint is a unique index, and building it reads every row.
`ALTER TABLE ... ADD CONSTRAINT ... UNIQUE` (what Django runs for a plain
`UniqueConstraint`, `unique=True` and `unique_together`) holds an ACCESS
EXCLUSIVE lock for the whole build: reads and writes wait. `CREATE UNIQUE
INDEX` (what Django runs for a `UniqueConstraint` with a condition,
expressions, `include` or `opclasses`) holds a SHARE lock: writes wait. On a
large table either one is minutes of outage.
See https://www.postgresql.org/docs/current/sql-altertable.html#SQL-ALTERTABLE-DESC-ADD-TABLE-CONSTRAINT-USING-INDEX

## Safe alternative
Build the unique index with `CREATE UNIQUE INDEX CONCURRENTLY` in a migration
with `atomic = False` (writes go on during the build):

    from django.db import migrations


    class Migration(migrations.Migration):
        atomic = False
        dependencies = [("testapp", "0001_initial")]
        operations = [
            migrations.RunSQL(
                'CREATE UNIQUE INDEX CONCURRENTLY "invoice_number_uniq"'
                ' ON "testapp_invoice" ("number")',
                reverse_sql='DROP INDEX CONCURRENTLY IF EXISTS "invoice_number_uniq"',
            ),
        ]

then, in the next migration, turn the finished index into the constraint
(a brief ACCESS EXCLUSIVE lock, no scan) and give Django's state the
`UniqueConstraint` with `SeparateDatabaseAndState`:

    from django.db import migrations, models


    class Migration(migrations.Migration):
        dependencies = [("testapp", "0002_invoice_number_uniq_index")]
        operations = [
            migrations.SeparateDatabaseAndState(
                database_operations=[
                    migrations.RunSQL(
                        'ALTER TABLE "testapp_invoice" ADD CONSTRAINT "invoice_number_uniq"'
                        ' UNIQUE USING INDEX "invoice_number_uniq"',
                        reverse_sql='ALTER TABLE "testapp_invoice"'
                        ' DROP CONSTRAINT "invoice_number_uniq"',
                    ),
                ],
                state_operations=[
                    migrations.AddConstraint(
                        "invoice",
                        models.UniqueConstraint(fields=["number"], name="invoice_number_uniq"),
                    ),
                ],
            ),
        ]

When the constraint is on a column the same migration adds, the `AddField`
moves into the first of the two migrations, before the build.

If duplicates exist the concurrent build fails and leaves an INVALID index;
its reverse drops it. Roll the two migrations back together. A
`UniqueConstraint` with a condition or expressions stays an index: build it
concurrently inside `SeparateDatabaseAndState` (state: `AddConstraint`) and
stop there; the finding renders it with the SQL Django's schema editor writes
for your constraint (its condition included).

## Not flagged
- Tables created earlier in the same migration: nothing can be using them yet.
- `ALTER TABLE ... ADD CONSTRAINT ... UNIQUE USING INDEX` and
  `CREATE UNIQUE INDEX CONCURRENTLY`: the safe alternative itself.
- Plain `CREATE INDEX` (that is `add-index-non-concurrent`).
- MySQL/MariaDB (InnoDB builds unique indexes online) and SQLite.

## Databases
PostgreSQL (all supported versions).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import migrations
from django.db.models import CharField, Deferrable, Field, TextField, UniqueConstraint
from pglast import ast
from pglast.enums import AlterTableType, ConstrType

from migration_pilot.backends.base import DDL
from migration_pilot.diagnostics import Severity
from migration_pilot.lint import render, sqlgen
from migration_pilot.lint.context import OperationContext, SqlContext
from migration_pilot.lint.registry import Finding, Rule

rule = Rule(__name__, severity=Severity.ERROR, vendors={"postgresql"}, category="locks")

HINT = (
    "Build the index with CREATE UNIQUE INDEX CONCURRENTLY in a migration with atomic = False,"
    " then attach it with ALTER TABLE ... ADD CONSTRAINT ... UNIQUE USING INDEX in the next one."
)
INDEX_HINT = (
    "Build it with CREATE UNIQUE INDEX CONCURRENTLY in RunSQL inside SeparateDatabaseAndState"
    " (state: AddConstraint), in a migration with atomic = False."
)
SQL_INDEX_HINT = "Use CREATE UNIQUE INDEX CONCURRENTLY in a migration with atomic = False."


def _message(what: str, table: str, ctx: OperationContext, ddl: DDL) -> Finding:
    lock = ctx.lock(ddl, table)
    return Finding(
        message=(
            f"{what} blocks {lock.blocks.describe()} on {table} while the unique index is built."
        ),
        hint=SQL_INDEX_HINT if ddl is DDL.CREATE_INDEX else HINT,
        lock=lock,
    )


def _columns(ctx: OperationContext, model_name: str, fields: Sequence[str]) -> list[str]:
    columns = []
    for name in fields:
        field = ctx.field(model_name, name)
        columns.append((ctx.column(name, field) if field is not None else None) or name)
    return columns


def _like_index(ctx: OperationContext, table: str, column: str, field: Field) -> list[Any]:
    """RunSQL for the pattern-ops index Django adds to unique varchar/text columns, if any."""
    if not isinstance(field, CharField | TextField):
        return []
    opclass = "text_pattern_ops" if isinstance(field, TextField) else "varchar_pattern_ops"
    name = render.pg_identifier(render.django_index_name(table, [column], "_like", ctx.profile.max_name_length()))
    return [migrations.RunSQL(
        f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON {render.pg_identifier(table)}"
        f" ({render.pg_identifier(column)} {opclass})",
        reverse_sql=f"DROP INDEX CONCURRENTLY IF EXISTS {name}",
    )]


@dataclass(frozen=True, slots=True)
class UniqueIndex:
    """A unique index to build concurrently and attach as constraint `name`."""

    name: str
    columns: Sequence[str]
    nulls: str = ""
    deferrable: str = ""


def _two_step(ctx: OperationContext, table: str, uniques: Sequence[UniqueIndex],
              state_operation: Any, *, first: Sequence[Any] = (),
              then: Sequence[Any] = ()) -> str:
    """Migration 1 builds each index concurrently; migration 2 attaches it as the constraint.

    `first` are operations that must run before the build (the column without UNIQUE);
    `then` are further concurrent builds (Django's pattern-ops index).
    """
    build = [render.nested(op) for op in first]
    moved = [op for op in first if isinstance(op, migrations.AddField)
             and any(op is original for original in ctx.migration.migration.operations)]
    note = "" if not moved else " AddField of " + ", ".join(op.name for op in moved) + \
        " moves here from this migration."
    attach_sql, detach_sql = [], []
    for unique in uniques:
        name = render.pg_identifier(unique.name)
        cols = ", ".join(render.pg_identifier(c) for c in unique.columns)
        build.append(render.nested(migrations.RunSQL(
            f"CREATE UNIQUE INDEX CONCURRENTLY {name} ON {render.pg_identifier(table)} ({cols}){unique.nulls}",
            reverse_sql=f"DROP INDEX CONCURRENTLY IF EXISTS {name}",
        )))
        attach_sql.append(f"ALTER TABLE {render.pg_identifier(table)} ADD CONSTRAINT {name}"
                          f" UNIQUE USING INDEX {name}{unique.deferrable}")
        # IF EXISTS: a later migration may have replaced it under Django's own name by then.
        detach_sql.append(f"ALTER TABLE {render.pg_identifier(table)} DROP CONSTRAINT IF EXISTS {name}")
    build.extend(render.nested(op) for op in then)
    attach = migrations.SeparateDatabaseAndState(
        database_operations=[migrations.RunSQL(
            attach_sql[0] if len(attach_sql) == 1 else attach_sql,
            reverse_sql=detach_sql[0] if len(detach_sql) == 1 else detach_sql,
        )],
        state_operations=[state_operation],
    )
    migration = ctx.migration
    return "\n\n# --- next migration ---\n".join([
        render.migration(build, dependencies=migration.dependencies, atomic=False,
                         comment="Step 1 of 2: build the unique index; writes go on." + note),
        render.migration([render.nested(attach)], dependencies=[(migration.app_label, migration.name)],
                         comment=f"Save as {migration.name}_attach.py: step 2 of 2, attach the"
                         " index, no scan."),
    ])


def _added_here(ctx: OperationContext, model_name: str, fields: Sequence[str]) -> list[Any]:
    """AddField operations earlier in this migration that add any of `fields` to `model_name`.

    The fix's first migration depends on what this migration depends on, so a
    constraint on a column this migration adds must bring that AddField along.
    """
    wanted = {name.lower() for name in fields}
    earlier = ctx.migration.migration.operations[:ctx.visit.index]
    return [op for op in earlier if isinstance(op, migrations.AddField)
            and op.model_name_lower == model_name.lower() and op.name_lower in wanted]


def _indexes(ctx: OperationContext, moved: Sequence[Any]) -> tuple[int, ...]:
    """This operation's index and those of the operations its fix moves in (it replaces them all)."""
    operations = ctx.migration.migration.operations
    found = [i for i, op in enumerate(operations) if any(op is m for m in moved)]
    return (ctx.visit.index, *found) if found else ()


def _index_constraint_code(ctx: OperationContext, op: migrations.AddConstraint) -> str | None:
    """The constraint's own CREATE UNIQUE INDEX (Django's SQL, condition and all), concurrently."""
    index = sqlgen.constraint_index_after(ctx.state, ctx.app_label, op, op.model_name)
    if index is None:
        return None
    build = migrations.SeparateDatabaseAndState(
        database_operations=[migrations.RunSQL(index.create_concurrently,
                                               reverse_sql=index.drop_concurrently)],
        state_operations=[op],
    )
    return render.migration([render.nested(build)], dependencies=ctx.migration.dependencies,
                            atomic=False,
                            comment="The index Django would build for the constraint, concurrently.")


def _is_plain(constraint: UniqueConstraint) -> bool:
    """Whether Django adds `constraint` with ALTER TABLE ... ADD CONSTRAINT (not CREATE INDEX)."""
    return not (constraint.condition or constraint.include or constraint.opclasses
                or constraint.expressions)


def _unique_index(constraint: UniqueConstraint, columns: Sequence[str]) -> UniqueIndex:
    deferrable = {
        Deferrable.DEFERRED: " DEFERRABLE INITIALLY DEFERRED",
        Deferrable.IMMEDIATE: " DEFERRABLE INITIALLY IMMEDIATE",
    }.get(constraint.deferrable, "")
    nulls = " NULLS NOT DISTINCT" if constraint.nulls_distinct is False else ""
    return UniqueIndex(constraint.name, columns, nulls, deferrable)


@rule.on(migrations.AddConstraint)
def check_add_constraint(ctx: OperationContext, op: migrations.AddConstraint) -> Iterator[Finding]:
    constraint = op.constraint
    table = ctx.table(op.model_name)
    if not isinstance(constraint, UniqueConstraint) or ctx.is_new_table(table):
        return
    what = f"Adding unique constraint {constraint.name} to {table}"
    if not _is_plain(constraint):
        finding = _message(what, table, ctx, DDL.CREATE_INDEX)
        yield Finding(finding.message, INDEX_HINT, finding.lock,
                      safe_alternative=_index_constraint_code(ctx, op))
        return
    finding = _message(what, table, ctx, DDL.ADD_UNIQUE)
    columns = _columns(ctx, op.model_name, constraint.fields)
    moved = _added_here(ctx, op.model_name, constraint.fields)
    code = _two_step(ctx, table, [_unique_index(constraint, columns)], op, first=moved)
    yield Finding(finding.message, finding.hint, finding.lock, safe_alternative=code,
                  replaces=_indexes(ctx, moved))


@rule.on(migrations.AlterUniqueTogether)
def check_unique_together(ctx: OperationContext, op: Any) -> Iterator[Finding]:
    table = ctx.table(op.name)
    model = ctx.model(op.name)
    if model is None or ctx.is_new_table(table):
        return
    before = {tuple(f) for f in (model.options.get("unique_together") or ())}
    added = sorted({tuple(f) for f in (op.option_value or ())} - before)
    if not added:
        return
    max_length = ctx.profile.max_name_length()
    uniques = []
    for fields in added:
        columns = _columns(ctx, op.name, fields)
        uniques.append(UniqueIndex(render.django_index_name(table, columns, "_uniq", max_length), columns))
    moved = _added_here(ctx, op.name, [name for fields in added for name in fields])
    code = _two_step(ctx, table, uniques, op, first=moved)
    for fields in added:
        finding = _message(f"Adding unique constraint on ({', '.join(fields)}) to {table}",
                           table, ctx, DDL.ADD_UNIQUE)
        yield Finding(finding.message, finding.hint, finding.lock, safe_alternative=code,
                      replaces=_indexes(ctx, moved))


@rule.on(migrations.AddField)
def check_add_field(ctx: OperationContext, op: migrations.AddField) -> Iterator[Finding]:
    table = ctx.table(op.model_name)
    field = op.field
    column = ctx.column(op.name, field)
    if ctx.is_new_table(table) or column is None or field.primary_key or not field.unique:
        return
    finding = _message(f"Adding unique column {column} to {table}", table, ctx, DDL.ADD_UNIQUE)
    code = None
    if not field.is_relation:
        _, _, args, kwargs = field.deconstruct()
        kwargs.pop("unique", None)
        plain = migrations.AddField(op.model_name, op.name, type(field)(*args, **kwargs))
        # AddField writes UNIQUE inline in ADD COLUMN: PostgreSQL names it, not Django.
        index = _pg_inline_name(table, column, "key")
        state = migrations.AlterField(op.model_name, op.name, field)
        code = _two_step(ctx, table, [UniqueIndex(index, [column])], state, first=[plain],
                         then=_like_index(ctx, table, column, field))
    yield Finding(finding.message, finding.hint, finding.lock, safe_alternative=code)


@rule.on(migrations.AlterField)
def check_alter_field(ctx: OperationContext, op: migrations.AlterField) -> Iterator[Finding]:
    table = ctx.table(op.model_name)
    old, new = ctx.field(op.model_name, op.name), op.field
    if old is None or ctx.is_new_table(table) or new.primary_key or not new.unique:
        return
    column = ctx.column(op.name, new)
    if column is None or (old.unique and not old.primary_key):
        return
    finding = _message(f"Making {column} unique on {table}", table, ctx, DDL.ADD_UNIQUE)
    code = None
    if _only_unique_changes(old, new) and ctx.column(op.name, old) == column:
        index = render.django_index_name(table, [column], "_uniq", ctx.profile.max_name_length())
        like = [] if old.db_index else _like_index(ctx, table, column, new)
        code = _two_step(ctx, table, [UniqueIndex(index, [column])], op, then=like)
    yield Finding(finding.message, finding.hint, finding.lock, safe_alternative=code)


def _pg_inline_name(table: str, column: str, label: str) -> str:
    """The name PostgreSQL gives an inline constraint: `makeObjectName(table, column, label)`.

    The longer of table and column is shortened, a byte at a time, until
    `table_column_label` fits in 63 bytes (NAMEDATALEN - 1).
    """
    first, second = table.encode(), column.encode()
    available = 63 - len(label) - 2
    keep_first, keep_second = len(first), len(second)
    while keep_first + keep_second > available:
        if keep_first > keep_second:
            keep_first -= 1
        else:
            keep_second -= 1
    head = first[:keep_first].decode(errors="ignore")
    tail = second[:keep_second].decode(errors="ignore")
    return f"{head}_{tail}_{label}"


def _only_unique_changes(old: Field, new: Field) -> bool:
    """Whether `new` is `old` plus unique=True: then the database needs nothing else."""
    old_path, old_args, old_kwargs = old.deconstruct()[1:]
    new_path, new_args, new_kwargs = new.deconstruct()[1:]
    for kwargs in (old_kwargs, new_kwargs):
        kwargs.pop("unique", None)
        kwargs.pop("db_index", None)
    return bool(old_path == new_path and old_args == new_args and old_kwargs == new_kwargs)


@rule.on_sql(ast.AlterTableStmt)
def check_alter_table(ctx: SqlContext, stmt: ast.AlterTableStmt) -> Iterator[Finding]:
    if stmt.relation is None:
        return
    table = str(stmt.relation.relname)
    if ctx.is_new_table(table):
        return
    for cmd in stmt.cmds or ():
        what = _unique_addition(cmd)
        if what is not None:
            yield _message(f"Adding {what} to {table}", table, ctx, DDL.ADD_UNIQUE)


def _unique_addition(cmd: Any) -> str | None:
    """'unique constraint x' or 'unique column y' when `cmd` builds a unique index, else None."""
    if not isinstance(cmd, ast.AlterTableCmd):
        return None
    definition: Any = cmd.def_
    if cmd.subtype == AlterTableType.AT_AddConstraint and _builds_unique(definition):
        return f"unique constraint {definition.conname or '(unnamed)'}"
    is_column = cmd.subtype == AlterTableType.AT_AddColumn and isinstance(definition, ast.ColumnDef)
    if is_column and any(_builds_unique(c) for c in definition.constraints or ()):
        return f"unique column {definition.colname}"
    return None


def _builds_unique(node: Any) -> bool:
    """A UNIQUE constraint that builds its own index (not UNIQUE USING INDEX)."""
    return (isinstance(node, ast.Constraint) and node.contype == ConstrType.CONSTR_UNIQUE
            and not node.indexname)


@rule.on_sql(ast.IndexStmt)
def check_create_unique_index(ctx: SqlContext, stmt: ast.IndexStmt) -> Iterator[Finding]:
    if not stmt.unique or stmt.concurrent or stmt.relation is None:
        return
    table = str(stmt.relation.relname)
    if ctx.is_new_table(table):
        return
    yield _message(f"Adding unique index {stmt.idxname or '(unnamed)'} to {table}", table, ctx,
                   DDL.CREATE_INDEX)
