"""Renaming a table that the running code still queries by its old name.

## What it does
Flags `RenameModel` that renames the table (the model has no `db_table`
keeping it), `AlterModelTable` that changes the table name, `RenameField` of a
many-to-many field whose auto-created table is renamed with it, and RunSQL
`ALTER TABLE ... RENAME TO` of a table that a model in the migration state
maps, on tables created before this migration.

## Why is this dangerous?
During a rolling deploy the old release keeps serving requests against the new
schema. From the rename on, every query the old code runs on the model fails
with "relation does not exist", until the last old process is replaced; and
the new code fails the same way if it is deployed before the migration runs.
On PostgreSQL the rename also takes an ACCESS EXCLUSIVE lock, briefly, but it
queues behind any long transaction on the table.
See https://www.postgresql.org/docs/current/sql-altertable.html

## Safe alternative
Rename the model, not the table: pin the table to its old name with
`db_table` (and set `db_table = "testapp_invoice"` in the model's Meta too),
so the rename is state only:

    from django.db import migrations


    class Migration(migrations.Migration):
        dependencies = [("testapp", "0001_initial")]
        operations = [
            migrations.AlterModelTable("invoice", "testapp_invoice"),
            migrations.RenameModel("Invoice", "Bill"),
        ]

If the table itself must change name, create the new table and move to it
over several releases (write to both, backfill, move reads, stop writing the
old one, drop it; see `drop-table`).

## Not flagged
- `RenameModelOnline` and `AlterModelTableOnline` on PostgreSQL and
  MySQL/MariaDB (written by `pilot makesafe`): the old table name stays an
  updatable view until their post-deploy `RenameTableContract`. On SQLite
  they are the plain rename, and flagged; so is a rename whose
  many-to-many column no view can keep (the message says which).
- Migrations marked post-deploy (`deploy_phase = "post"`, django-safemigrate's
  `Safe.after_deploy`, django-syzygy's `Stage.POST_DEPLOY`): they run once the old code is gone.
- `RenameModel` of a model whose `db_table` stays the same: state only.
- `AlterModelTable` that sets `db_table` to the current table name.
- Tables created earlier in the same migration: nothing can be using them yet.
- Proxy and unmanaged models: Django renames no table for them.
- RunSQL renaming a table that no model in the migration state maps: Django
  code cannot be querying it.

## Databases
PostgreSQL, MySQL/MariaDB and SQLite: the breakage is the same everywhere.
"""

from __future__ import annotations

from collections.abc import Iterator

from django.db import migrations
from django.db.backends.utils import truncate_name
from pglast import ast, enums

from migration_pilot.analysis.schema import default_table_name
from migration_pilot.backends.base import DDL
from migration_pilot.diagnostics import Severity
from migration_pilot.lint import render
from migration_pilot.lint.context import OperationContext, SqlContext
from migration_pilot.lint.registry import Finding, Rule
from migration_pilot.online.table_rename import ONLINE_VENDORS
from migration_pilot.operations import online

rule = Rule(__name__, severity=Severity.ERROR, category="breaks-code")

HINT = (
    "Keep the table name with Meta.db_table so only the Python name changes,"
    " or create the new table and move to it over several releases."
)


def _message(old: str, new: str) -> str:
    return f"Renaming table {old} to {new} breaks the running code, which still queries {old}."


def _finding(ctx: OperationContext, old: str, new: str, code: str | None) -> Finding:
    return Finding(message=_message(old, new), hint=HINT, lock=ctx.lock(DDL.RENAME, old),
                   safe_alternative=code)


def _online_refusal(ctx: OperationContext, op: online.RenameModelOnline) -> str | None:
    """Why the online rename cannot keep every old name (a many-to-many column renamed in place), or None."""
    if ctx.model(op.old_name) is None:
        return None
    after = ctx.state.clone()
    op.state_forwards(ctx.app_label, after)
    return op.online_refusal(ctx.app_label, ctx.state, after, ctx.vendor)


@rule.on(migrations.RenameModel, online.RenameModelOnline)
def check_rename_model(ctx: OperationContext, op: migrations.RenameModel) -> Iterator[Finding]:
    if isinstance(op, online.RenameModelOnline) and ctx.vendor in ONLINE_VENDORS:
        why = _online_refusal(ctx, op)
        if why:
            yield Finding(message=why, hint=HINT, lock=ctx.lock(DDL.RENAME, ctx.table(op.old_name)))
        return
    model = ctx.model(op.old_name)
    old = ctx.table(op.old_name)
    if model is None or not ctx.has_table(op.old_name) or ctx.is_new_table(old):
        return
    if model.options.get("db_table"):
        return
    new = default_table_name(ctx.app_label, op.new_name, ctx.profile.max_name_length())
    if new == old:
        return
    pin = render.call("migrations.AlterModelTable", op.old_name_lower, old)
    rename = render.call("migrations.RenameModel", op.old_name, op.new_name)
    code = render.migration(
        [pin, rename],
        dependencies=ctx.migration.dependencies,
        comment=f"Also set db_table = {old!r} in {op.new_name}'s Meta.",
    )
    yield _finding(ctx, old, new, code)


@rule.on(migrations.AlterModelTable, online.AlterModelTableOnline)
def check_alter_table(ctx: OperationContext, op: migrations.AlterModelTable) -> Iterator[Finding]:
    if isinstance(op, online.AlterModelTableOnline) and ctx.vendor in ONLINE_VENDORS:
        return
    old = ctx.table(op.name)
    if not ctx.has_table(op.name) or ctx.is_new_table(old):
        return
    new = op.table or default_table_name(ctx.app_label, op.name, ctx.profile.max_name_length())
    if new != old:
        yield _finding(ctx, old, str(new), None)


def _added_earlier(ctx: OperationContext, model_name: str, name: str) -> bool:
    """Whether an AddField earlier in this migration created the field (and its table)."""
    earlier = getattr(ctx.migration.migration, "operations", [])[: ctx.visit.index]
    return any(
        isinstance(op, migrations.AddField)
        and op.model_name_lower == model_name.lower()
        and op.name_lower == name.lower()
        for op in earlier
    )


@rule.on(migrations.RenameField)
def check_rename_m2m(ctx: OperationContext, op: migrations.RenameField) -> Iterator[Finding]:
    field = ctx.field(op.model_name, op.old_name)
    table = ctx.table(op.model_name)
    if field is None or not field.many_to_many or not ctx.has_table(op.model_name):
        return
    if getattr(field, "db_table", None) or getattr(field.remote_field, "through", None) is not None:
        return
    length = ctx.profile.max_name_length()
    old = str(truncate_name(f"{table}_{op.old_name}", length))
    new = str(truncate_name(f"{table}_{op.new_name}", length))
    if old == new or ctx.is_new_table(table) or _added_earlier(ctx, op.model_name, op.old_name):
        return
    _, _, args, kwargs = field.deconstruct()
    pinned = type(field)(*args, **{**kwargs, "db_table": old})
    code = render.migration(
        [render.call("migrations.AlterField", op.model_name, op.old_name, pinned),
         render.call("migrations.RenameField", op.model_name, op.old_name, op.new_name)],
        dependencies=ctx.migration.dependencies,
        comment=f"Also set db_table={old!r} on the field in models.py.",
    )
    yield _finding(ctx, old, new, code)


@rule.on_sql(ast.RenameStmt)
def check_sql(ctx: SqlContext, stmt: ast.RenameStmt) -> Iterator[Finding]:
    if stmt.renameType != enums.ObjectType.OBJECT_TABLE or stmt.relation is None:
        return
    old = str(stmt.relation.relname)
    if ctx.model_for_table(old) is None or ctx.is_new_table(old):
        return
    yield Finding(
        message=_message(old, str(stmt.newname)),
        hint="Keep the old table name (Meta.db_table) instead of renaming the table.",
        lock=ctx.lock(DDL.RENAME, old),
    )
