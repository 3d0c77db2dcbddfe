"""Renaming a column that the running code still uses by its old name.

## What it does
Flags `RenameField` that renames the column (the field has no `db_column`
keeping it), `AlterField` that changes a field's column name (`db_column`),
and RunSQL `ALTER TABLE ... RENAME COLUMN` of a column that a model in the
migration state maps, on tables created before this migration.

## Why is this dangerous?
During a rolling deploy the old release keeps serving requests against the new
schema. Django names every concrete field in its SELECT and INSERT statements,
so from the rename on every query the old code runs on that model fails with
"column does not exist", until the last old process is replaced; and the new
code fails the same way if it is deployed before the migration runs. On
PostgreSQL the rename also takes an ACCESS EXCLUSIVE lock, briefly, but it
queues behind any long transaction on the table.
See https://www.postgresql.org/docs/current/sql-altertable.html

## Safe alternative
Rename the field, not the column: pin the column to its old name with
`db_column` (and set `db_column="note"` on the model field too), so the rename
is state only:

    from django.db import migrations, models


    class Migration(migrations.Migration):
        dependencies = [("testapp", "0001_initial")]
        operations = [
            migrations.AlterField(
                "order", "note", models.TextField(blank=True, db_column="note", default="")
            ),
            migrations.RenameField("order", "note", "remark"),
        ]

If the column itself must change name, expand and contract over several
releases:
1. add the new column (nullable or with `db_default`);
2. write to both columns;
3. backfill the new column;
4. move reads to the new column;
5. stop writing the old column;
6. drop it (see `drop-column`).

## Not flagged
- Migrations marked post-deploy (`deploy_phase = "post"`, django-safemigrate's
  `Safe.after_deploy`, django-syzygy's `Stage.POST_DEPLOY`): they run once the old code is gone.
- `RenameField` of a field whose `db_column` stays the same: state only.
- `AlterField` that keeps the column name (adding `db_column` equal to the
  current name, for example).
- Tables created earlier in the same migration: nothing can be using them yet.
- Proxy and unmanaged models, and many-to-many fields (no column).
- RunSQL renaming a column that no model in the migration state maps: Django
  code cannot be using it.

## Databases
PostgreSQL, MySQL/MariaDB and SQLite: the breakage is the same everywhere.
"""

from __future__ import annotations

from collections.abc import Iterator

from django.db import migrations
from django.db.models import Field
from pglast import ast, enums

from migration_pilot.analysis.schema import columns_of, related_model_key
from migration_pilot.backends.base import DDL
from migration_pilot.diagnostics import Severity
from migration_pilot.lint import render
from migration_pilot.lint.context import OperationContext, SqlContext
from migration_pilot.lint.registry import Finding, Rule
from migration_pilot.lint.rules.vendor_specific_operation import targeted_vendors

rule = Rule(__name__, severity=Severity.ERROR, category="breaks-code")

HINT = (
    "Keep the column name with db_column so only the Python name changes,"
    " or add a new column and move to it over several releases."
)


def _message(old: str, new: str, table: str) -> str:
    return (
        f"Renaming column {old} to {new} in {table} breaks the running code,"
        f" which still uses {old}."
    )


def _pinned(field: Field, column: str) -> Field:
    """`field` with db_column= its current column."""
    _, _, args, kwargs = field.deconstruct()
    kwargs["db_column"] = column
    return type(field)(*args, **kwargs)


@rule.on(migrations.RenameField)
def check_rename_field(ctx: OperationContext, op: migrations.RenameField) -> Iterator[Finding]:
    table = ctx.table(op.model_name)
    field = ctx.field(op.model_name, op.old_name)
    if field is None or not ctx.has_table(op.model_name) or ctx.is_new_table(table):
        return
    old_column = ctx.column(op.old_name, field)
    new_column = ctx.column(op.new_name, field)
    if old_column is None or new_column is None or old_column == new_column:
        return
    if targeted_vendors(ctx) == {"postgresql"}:
        alternative = (None if _model_changed_later(ctx, op.model_name) or not _renames_online(ctx, op, field)
                       else _online(ctx, op, old_column))
    else:
        pin = render.call("migrations.AlterField", op.model_name, op.old_name, _pinned(field, old_column))
        rename = render.call("migrations.RenameField", op.model_name, op.old_name, op.new_name)
        alternative = render.migration(
            [pin, rename],
            dependencies=ctx.migration.dependencies,
            comment=(f"Keeps the column {old_column} (the schema differs from the original's by that"
                     f" name alone): also set db_column={old_column!r} on the field in models.py."),
        )
    yield Finding(
        message=_message(old_column, new_column, table),
        hint=HINT,
        lock=ctx.lock(DDL.RENAME, table),
        safe_alternative=alternative,
    )


def _renames_online(ctx: OperationContext, op: migrations.RenameField, field: Field) -> bool:
    """Whether RenameFieldOnline can take the column (online/rename.py refuses a column in a constraint
    or an index of a constraint, referenced by a foreign key, or with a database default)."""
    if field.primary_key or field.unique or field.has_db_default():
        return False
    if getattr(field, "remote_field", None) is not None and getattr(field, "db_constraint", False):
        return False
    model = ctx.model(op.model_name)
    if model is None:
        return False
    for constraint in model.options.get("constraints") or ():
        if op.old_name in (getattr(constraint, "fields", None) or ()) or op.old_name in str(
                getattr(constraint, "condition", "") or getattr(constraint, "check", "") or ""):
            return False
    if any(op.old_name in together for together in model.options.get("unique_together") or ()):
        return False
    wanted = (ctx.app_label, op.model_name.lower())
    for (app_label, _), other in ctx.state.models.items():
        for other_field in other.fields.values():
            remote = getattr(other_field, "remote_field", None)
            if remote is not None and getattr(remote, "field_name", None) == op.old_name and (
                    related_model_key(other_field, app_label) == wanted):
                return False
    return True


def _model_changed_later(ctx: OperationContext, model_name: str) -> bool:
    """Whether a later operation of the migration changes the model again (its indexes, fields, ...):
    those would be built during the expand, on the new column beside the old, which the contract
    does not carry over; the fix is then left out rather than given wrong."""
    wanted = model_name.lower()
    for operation in ctx.migration.migration.operations[ctx.visit.index + 1:]:
        names = {getattr(operation, attr, None) for attr in ("model_name_lower", "name_lower", "old_name_lower")}
        if wanted in names or isinstance(operation, migrations.SeparateDatabaseAndState | migrations.RunSQL
                                         | migrations.RunPython):
            return True
    return False


def _online(ctx: OperationContext, op: migrations.RenameField, old_column: str) -> str:
    """PostgreSQL only: both columns, kept equal by a trigger, until the post-deploy contract drops
    the old one (migration_pilot.operations.RenameFieldOnline / RenameFieldContract)."""
    expand = render.call("RenameFieldOnline", op.model_name, op.old_name, op.new_name)
    contract = render.call("RenameFieldContract", op.model_name, old_column, op.new_name)
    name = ctx.migration.name
    others = " (the migration's other operations in migrations of their own, before and after it)" if len(
        ctx.migration.migration.operations) > 1 else ""
    first = render.migration([expand], dependencies=ctx.migration.dependencies, atomic=False,
                             comment=f"In place of the RenameField{others}: the new column beside the old one.")
    second = render.migration([contract], dependencies=[(ctx.app_label, name)], atomic=False, phase="post",
                              comment=f"Save as {name}_contract.py: drop the old column {old_column}.")
    return render.staged((render.PRE_DEPLOY, [first]), (render.POST_DEPLOY, [second]))


@rule.on(migrations.AlterField)
def check_alter_field(ctx: OperationContext, op: migrations.AlterField) -> Iterator[Finding]:
    table = ctx.table(op.model_name)
    field = ctx.field(op.model_name, op.name)
    if field is None or not ctx.has_table(op.model_name) or ctx.is_new_table(table):
        return
    old_column = ctx.column(op.name, field)
    new_column = ctx.column(op.name, op.field)
    if old_column is None or new_column is None or old_column == new_column:
        return
    keep = render.call("migrations.AlterField", op.model_name, op.name,
                       _pinned(op.field, old_column))
    # The pin keeps the old column name: a schema other than the original's. On a PostgreSQL-only
    # project, where RenameField has an online fix that ends in the original schema, it is left out.
    pinned = None if targeted_vendors(ctx) == {"postgresql"} else render.migration(
        [keep], dependencies=ctx.migration.dependencies,
        comment=(f"Keeps the column {old_column} (the schema differs from the original's by that"
                 f" name alone): also set db_column={old_column!r} on the field in models.py."))
    yield Finding(
        message=_message(old_column, new_column, table),
        hint=HINT,
        lock=ctx.lock(DDL.RENAME, table),
        safe_alternative=pinned,
    )


@rule.on_sql(ast.RenameStmt)
def check_sql(ctx: SqlContext, stmt: ast.RenameStmt) -> Iterator[Finding]:
    if stmt.renameType != enums.ObjectType.OBJECT_COLUMN or stmt.relation is None:
        return
    if stmt.relationType != enums.ObjectType.OBJECT_TABLE:
        return
    table = str(stmt.relation.relname)
    model = ctx.model_for_table(table)
    if model is None or ctx.is_new_table(table) or stmt.subname not in columns_of(model):
        return
    yield Finding(
        message=_message(str(stmt.subname), str(stmt.newname), table),
        hint="Add the new column and move to it over several releases instead of renaming.",
        lock=ctx.lock(DDL.RENAME, table),
    )
