"""Adding a NOT NULL column without a database default to a table in use.

## What it does
Flags `AddField` of a NOT NULL field without a usable `db_default` on a table
created before this migration, and RunSQL `ALTER TABLE ... ADD COLUMN ... NOT
NULL` without a `DEFAULT`.

## Why is this dangerous?
Django's `default=` is a Python-side default. `AddField` puts it in the
database only while the column is added, to fill the existing rows, and drops
it again in the same migration. During a rolling deploy the old release keeps
running against the new schema; its INSERTs do not name the new column, the
database has no default to fill in, and every one of them fails with a NOT NULL
violation until the last old process is gone. `db_default=None` does not help:
it is `DEFAULT NULL`.
See https://docs.djangoproject.com/en/stable/ref/models/fields/#db-default

A NOT NULL column with no default at all (no `default=`, not a blank text
field) is worse: PostgreSQL and SQLite have nothing to put in the existing
rows, so the migration itself fails as soon as the table has one row
(`column "tier" of relation ... contains null values`). MySQL/MariaDB fill
the rows with the type's implicit default (0, '') instead.

## Safe alternative
Keep the default in the database with `db_default` (Django 5.0+), next to
`default=` if Python code reads the value before saving:

    from django.db import migrations, models


    class Migration(migrations.Migration):
        dependencies = [("testapp", "0001_initial")]
        operations = [
            migrations.AddField(
                "customer",
                "tier",
                models.CharField(db_default="basic", default="basic", max_length=10),
            ),
        ]

When no constant fits (a callable default), add the field with `null=True`,
backfill it, and make it NOT NULL in a later release once no old code runs.

## Not flagged
- Migrations marked post-deploy (`deploy_phase = "post"`, django-safemigrate's
  `Safe.after_deploy`, django-syzygy's `Stage.POST_DEPLOY`): they run once the old code is gone.
- `null=True` fields, and fields with a `db_default` other than NULL.
- `lint --static`: a field of a class static mode does not know (`myapp.fields.NullCharField`)
  whose migration does not state `null`: the class may make it nullable.
- Tables created earlier in the same migration: nothing can be using them yet.
- Many-to-many fields (no column), `GeneratedField` (the database computes it)
  and auto-increment fields (the sequence fills them; rewriting the table for
  them is `add-field-rewrites-table`'s concern).
- Proxy and unmanaged models: Django adds no column.
- RunSQL `ADD COLUMN ... NOT NULL DEFAULT ...` (the default stays), identity
  and generated columns, and tables no model in the migration state maps:
  Django code does not insert into them.

## Databases
PostgreSQL, MySQL/MariaDB and SQLite: Django drops the default on each of them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.db import migrations
from django.db.models import Field, JSONField, Value
from django.db.models.fields import AutoFieldMixin
from pglast import ast, enums

from migration_pilot.diagnostics import Severity
from migration_pilot.lint import render
from migration_pilot.lint.context import OperationContext, SqlContext
from migration_pilot.lint.fill import BATCH, fill_migration
from migration_pilot.lint.registry import Finding, Rule
from migration_pilot.lint.rules.set_not_null import not_null_migrations
from migration_pilot.lint.rules.vendor_specific_operation import targeted_vendors
from migration_pilot.lint.static.placeholders import not_stated

rule = Rule(__name__, severity=Severity.ERROR, category="breaks-code")

HINT = (
    "Give the field db_default= so the database fills the column for old code,"
    " or add it with null=True and make it NOT NULL in a later release."
)
_SERIAL_TYPES = frozenset({"smallserial", "serial", "bigserial", "serial2", "serial4", "serial8"})


def _message(column: str, table: str) -> str:
    return (
        f"Adding NOT NULL column {column} to {table} without a database default breaks"
        " the running code, whose INSERTs omit it."
    )


FAILS_HINT = (
    "Give the field a default (db_default= also keeps it in the database for old code),"
    " or add it with null=True, backfill, and make it NOT NULL in a later release."
)


def _fails_message(column: str, table: str) -> str:
    return (
        f"Adding NOT NULL column {column} to {table} with no default at all fails outright"
        f" when {table} has rows: the database has no value to give them."
    )


def _fills_existing_rows(field: Field) -> bool:
    """Whether Django has a value for the existing rows (its `effective_default` is not None)."""
    if field.has_default() or field.has_db_default():
        return True
    if field.blank and field.empty_strings_allowed:
        return True  # Django fills '' for blank text fields
    return bool(getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False))


def _has_usable_db_default(field: Field) -> bool:
    if not field.has_db_default():
        return False
    default: Any = field.db_default
    return not (default is None or (isinstance(default, Value) and default.value is None))


def _is_exempt(field: Field) -> bool:
    """Fields old INSERTs cannot break: nullable, DB-defaulted, computed or sequence-filled."""
    return (
        field.null
        or field.many_to_many
        or getattr(field, "generated", False)
        or isinstance(field, AutoFieldMixin)
        or _has_usable_db_default(field)
    )


def _constant_default(op: migrations.AddField) -> bool:
    """Whether the default can live in the database as it is (db_default=): a constant, not JSON."""
    field = op.field
    return (field.has_default() and not callable(field.default) and field.default is not None
            and not isinstance(field, JSONField))


def _final_field(op: migrations.AddField) -> Field:
    """The field as the original migration leaves it in the state (preserve_default=False drops the default)."""
    if op.preserve_default:
        return op.field
    _, _, args, kwargs = op.field.deconstruct()
    kwargs.pop("default", None)
    return type(op.field)(*args, **kwargs)


def _expanded_field(op: migrations.AddField) -> Field:
    """Deploy 1's field: db_default= its constant default, or nullable when there is none."""
    _, _, args, kwargs = _final_field(op).deconstruct()
    if _constant_default(op):
        kwargs["db_default"] = op.field.default
    else:
        kwargs["null"] = True
        kwargs.pop("db_default", None)
    return type(op.field)(*args, **kwargs)


def _touched_later(ctx: OperationContext, model_name: str, name: str) -> bool:
    """Whether a later operation of the migration changes this field or its model again."""
    model, field = model_name.lower(), name.lower()
    for operation in ctx.migration.migration.operations[ctx.visit.index + 1:]:
        if isinstance(operation, migrations.RenameModel | migrations.DeleteModel | migrations.AlterModelTable):
            return True
        if isinstance(operation, migrations.SeparateDatabaseAndState):
            return True
        if getattr(operation, "model_name_lower", None) == model and (
                getattr(operation, "name_lower", None) == field
                or getattr(operation, "old_name_lower", None) == field):
            return True
    return False


def _fill(ctx: OperationContext, op: migrations.AddField, column: str) -> str:
    """A post-deploy migration that fills the rows old code inserted without the column, in batches."""
    default = render.value(op.field.default)
    return fill_migration(ctx, op, f"{default.text}()", default.imports, [
        f"The rows that have no {column} yet (before deploy 1, and those the old code inserted since),",
        f"{BATCH} at a time, each batch committed on its own."])


def _contract(ctx: OperationContext, op: migrations.AddField, table: str, column: str) -> list[str]:
    """Deploy 2: the field as the original migration leaves it (post-deploy)."""
    final = _final_field(op)
    after = [(ctx.app_label, ctx.migration.name)]
    if _constant_default(op):
        alter = render.call("migrations.AlterField", op.model_name, op.name, final)
        return [render.migration([alter], dependencies=after, phase="post",
                                 comment="The old code is gone: drop the database default.")]
    parts: list[str] = []
    if op.field.has_default() and callable(op.field.default):
        parts.append(_fill(ctx, op, column))
        after = [(ctx.app_label, f"{ctx.migration.name}_fill_{op.name}")]
    alter_op = migrations.AlterField(op.model_name, op.name, final)
    not_null: list[str] = []
    if targeted_vendors(ctx) == {"postgresql"}:
        not_null = not_null_migrations(ctx, alter_op, table, column, after, f"{ctx.migration.name}_not_null")
    if not not_null:
        not_null = [render.migration([render.call("migrations.AlterField", op.model_name, op.name, final)],
                                     dependencies=after)]
    if not parts:
        not_null[0] = not_null[0].replace(
            "class Migration(migrations.Migration):\n",
            "class Migration(migrations.Migration):\n"
            f"    # Fill {column} on every row first: the original migration had no value for them.\n", 1)
    return parts + [_post(text) for text in not_null]


def _post(migration_text: str) -> str:
    """`migration_text` marked post-deploy."""
    if "deploy_phase" in migration_text:
        return migration_text
    return migration_text.replace("class Migration(migrations.Migration):\n",
                                  "class Migration(migrations.Migration):\n    deploy_phase = 'post'\n", 1)


def _alternative(ctx: OperationContext, op: migrations.AddField, table: str, column: str) -> str | None:
    """Deploy 1 adds the column so old INSERTs work; deploy 2 gives it the original's definition."""
    if _touched_later(ctx, op.model_name, op.name):
        return None  # a contract step after the migration would undo what comes later
    expand = render.call("migrations.AddField", op.model_name, op.name, _expanded_field(op))
    first = render.migration([expand], dependencies=ctx.migration.dependencies)
    return render.staged((render.PRE_DEPLOY, [first]),
                         (render.POST_DEPLOY, _contract(ctx, op, table, column)))


@rule.on(migrations.AddField)
def check_add_field(ctx: OperationContext, op: migrations.AddField) -> Iterator[Finding]:
    table = ctx.table(op.model_name)
    if _is_exempt(op.field) or not ctx.has_table(op.model_name) or ctx.is_new_table(table):
        return
    if not_stated(op.field, "null"):  # static lint: a field class it does not know may be nullable
        return
    column = ctx.column(op.name, op.field)
    if column is None:
        return
    # MySQL/MariaDB give existing rows the type's implicit default (0, ''); the others refuse.
    fails = ctx.vendor != "mysql" and not _fills_existing_rows(op.field)
    yield Finding(
        message=_fails_message(column, table) if fails else _message(column, table),
        hint=FAILS_HINT if fails else HINT,
        safe_alternative=_alternative(ctx, op, table, column),
    )


def _constraint_types(column: ast.ColumnDef) -> dict[Any, ast.Constraint]:
    return {c.contype: c for c in column.constraints or () if isinstance(c, ast.Constraint)}


def _breaks_old_inserts(column: ast.ColumnDef) -> bool:
    """NOT NULL, and neither a non-NULL DEFAULT nor a value the database computes."""
    kinds = _constraint_types(column)
    if enums.ConstrType.CONSTR_NOTNULL not in kinds and not column.is_not_null:
        return False
    if kinds.keys() & {enums.ConstrType.CONSTR_IDENTITY, enums.ConstrType.CONSTR_GENERATED}:
        return False
    type_names = column.typeName.names if column.typeName is not None else ()
    if type_names and str(type_names[-1].sval).lower() in _SERIAL_TYPES:
        return False
    default = kinds.get(enums.ConstrType.CONSTR_DEFAULT)
    if default is None:
        return True
    expr = default.raw_expr
    return isinstance(expr, ast.A_Const) and bool(expr.isnull)


def _has_default_clause(column: ast.ColumnDef) -> bool:
    return enums.ConstrType.CONSTR_DEFAULT in _constraint_types(column)


@rule.on_sql(ast.AlterTableStmt)
def check_sql(ctx: SqlContext, stmt: ast.AlterTableStmt) -> Iterator[Finding]:
    if stmt.relation is None:
        return
    table = str(stmt.relation.relname)
    if ctx.model_for_table(table) is None or ctx.is_new_table(table):
        return
    for cmd in stmt.cmds or ():
        if not isinstance(cmd, ast.AlterTableCmd) or cmd.subtype != enums.AlterTableType.AT_AddColumn:
            continue
        column = cmd.def_
        if isinstance(column, ast.ColumnDef) and _breaks_old_inserts(column):
            fails = ctx.vendor != "mysql" and not _has_default_clause(column)
            yield Finding(
                message=(_fails_message if fails else _message)(str(column.colname), table),
                hint="Add the column with a DEFAULT, or as NULL and set NOT NULL in a later release.",
            )
