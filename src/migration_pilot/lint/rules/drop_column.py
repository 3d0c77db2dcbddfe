"""Dropping a column that the running code still selects.

## What it does
Flags `RemoveField` that drops a column of a table created before this
migration, and RunSQL `ALTER TABLE ... DROP COLUMN` of a column that a model
in the migration state still maps.

## Why is this dangerous?
During a rolling deploy the old release keeps serving requests against the new
schema. Django names every concrete field in its SELECT and INSERT statements,
so the moment the column is gone every query the old code runs on that model
fails with "column does not exist", until the last old process is replaced.
On PostgreSQL `DROP COLUMN` also takes an ACCESS EXCLUSIVE lock, briefly, but
it queues behind any long transaction on the table and everything queues behind
it. See https://www.postgresql.org/docs/current/sql-altertable.html

## Safe alternative
Remove the column in two releases. First remove the field from the models only,
with `SeparateDatabaseAndState`; if the column is NOT NULL without a database
default, make it nullable first so that the new code's INSERTs, which omit it,
still work:

    from django.db import migrations, models


    class Migration(migrations.Migration):
        dependencies = [("testapp", "0001_initial")]
        operations = [
            migrations.AlterField(
                "order", "note", models.TextField(blank=True, default="", null=True)
            ),
            migrations.SeparateDatabaseAndState(
                state_operations=[migrations.RemoveField("order", "note")],
            ),
        ]

Then, post-deploy (`deploy_phase = "post"`), when no running code knows the
field any more, drop the column: put the field back in the state only and let
Django's own `RemoveField` drop it, so each database gets the SQL the original
migration would have run:

    class Migration(migrations.Migration):
        deploy_phase = "post"
        dependencies = [("testapp", "0002_remove_order_note")]
        operations = [
            migrations.SeparateDatabaseAndState(
                state_operations=[migrations.AddField(
                    "order", "note", models.TextField(blank=True, default="", null=True))],
            ),
            migrations.RemoveField("order", "note"),
        ]

The finding renders both as `# === Deploy 1 of 2` and `# === Deploy 2 of 2`;
applied in order they give the schema the original migration gives. When a
later operation of the same migration changes the field or its model again,
only the first release is given (its contract step would act on what those
operations made).

## Not flagged
- Migrations marked post-deploy (`deploy_phase = "post"`, django-safemigrate's
  `Safe.after_deploy`, django-syzygy's `Stage.POST_DEPLOY`): they run once the old code is gone.
- `RemoveField` inside `SeparateDatabaseAndState(state_operations=...)`: the
  column stays.
- Tables created earlier in the same migration: nothing can be using them yet.
- Columns of a model that a later operation of the same migration deletes
  (makemigrations removes a model's foreign keys before `DeleteModel`): the
  whole table goes, which is `drop-table`'s concern.
- Proxy and unmanaged models, and many-to-many fields (their table is the
  concern of `drop-table`).
- RunSQL dropping a column that no model in the migration state maps: Django
  code cannot be selecting it. Raw SQL in your own code is beyond lint's sight.

## Databases
PostgreSQL, MySQL/MariaDB and SQLite: the breakage is the same everywhere.
"""

from __future__ import annotations

from collections.abc import Iterator

from django.db import migrations
from django.db.models import Field
from pglast import ast, enums

from migration_pilot.analysis.schema import columns_of
from migration_pilot.backends.base import DDL
from migration_pilot.diagnostics import Severity
from migration_pilot.lint import render
from migration_pilot.lint.context import OperationContext, SqlContext
from migration_pilot.lint.registry import Finding, Rule

rule = Rule(__name__, severity=Severity.ERROR, category="breaks-code")

HINT = (
    "Remove the field from the model with SeparateDatabaseAndState (state only) first;"
    " drop the column in a later release, once no running code selects it."
)


def _message(column: str, table: str) -> str:
    return f"Dropping column {column} from {table} breaks the running code, which still selects it."


def _needs_a_default(field: Field) -> bool:
    """Whether INSERTs that omit the column fail: NOT NULL and no database default."""
    return not field.null and not field.has_db_default()


def _nullable(field: Field) -> Field:
    _, _, args, kwargs = field.deconstruct()
    kwargs["null"] = True
    return type(field)(*args, **kwargs)


def _state_only_removal(ctx: OperationContext, op: migrations.RemoveField, field: Field) -> str:
    """Deploy 1 removes the field from the state only; deploy 2, post-deploy, drops the column.

    Deploy 2 puts the field back in the state alone, as deploy 1 left it in the
    database, and runs Django's own RemoveField: each database gets the SQL
    (foreign key constraint first, then the column) the original would have run.
    """
    steps = []
    kept = field
    if _needs_a_default(field):
        kept = _nullable(field)
        steps.append(render.call("migrations.AlterField", op.model_name, op.name, kept))
    removal = render.call("migrations.RemoveField", op.model_name, op.name)
    steps.append(render.call("migrations.SeparateDatabaseAndState",
                             state_operations=render.raw(f"[{removal.text}]", *removal.imports)))
    if ctx.changed_later(op.model_name, op.name):
        return render.migration(
            steps, dependencies=ctx.migration.dependencies,
            comment="Release 1: the column stays; drop it with RunSQL in a later release. (No contract"
                    " step here: a later operation of this migration changes the same field or model.)")
    first = render.migration(steps, dependencies=ctx.migration.dependencies,
                             comment="The column stays: the old code still selects it.")
    back = render.call("migrations.AddField", op.model_name, op.name, kept)
    contract = render.migration(
        [render.call("migrations.SeparateDatabaseAndState",
                     state_operations=render.raw(f"[{back.text}]", *back.imports)),
         render.call("migrations.RemoveField", op.model_name, op.name)],
        dependencies=[(ctx.app_label, ctx.migration.name)], phase="post",
        comment="The old code is gone: the field back in the state only, then Django's own drop.")
    return render.staged((render.PRE_DEPLOY, [first]), (render.POST_DEPLOY, [contract]))


@rule.on(migrations.RemoveField)
def check_remove_field(ctx: OperationContext, op: migrations.RemoveField) -> Iterator[Finding]:
    table = ctx.table(op.model_name)
    field = ctx.field(op.model_name, op.name)
    if field is None or not ctx.has_table(op.model_name) or ctx.is_new_table(table):
        return
    if ctx.deleted_later(op.model_name):
        return
    column = ctx.column(op.name, field)
    if column is None:
        return
    yield Finding(
        message=_message(column, table),
        hint=HINT,
        lock=ctx.lock(DDL.DROP_COLUMN, table),
        safe_alternative=_state_only_removal(ctx, op, field),
    )


@rule.on_sql(ast.AlterTableStmt)
def check_sql(ctx: SqlContext, stmt: ast.AlterTableStmt) -> Iterator[Finding]:
    if stmt.relation is None:
        return
    table = str(stmt.relation.relname)
    model = ctx.model_for_table(table)
    if model is None or ctx.is_new_table(table):
        return
    used = columns_of(model)
    for cmd in stmt.cmds or ():
        if not isinstance(cmd, ast.AlterTableCmd) or cmd.subtype != enums.AlterTableType.AT_DropColumn:
            continue
        if cmd.name in used:
            yield Finding(
                message=_message(str(cmd.name), table),
                hint=HINT,
                lock=ctx.lock(DDL.DROP_COLUMN, table),
            )
