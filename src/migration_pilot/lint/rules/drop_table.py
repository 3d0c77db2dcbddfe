"""Dropping a table that the running code still queries.

## What it does
Flags `DeleteModel` of a model whose table existed before this migration,
`RemoveField` of a many-to-many field whose auto-created table is dropped with
it, and RunSQL `DROP TABLE` of a table that a model in the migration state
still maps.

## Why is this dangerous?
During a rolling deploy the old release keeps serving requests against the new
schema. Every query it runs on the model (and every delete that cascades to
it) fails with "relation does not exist" until the last old process is
replaced, and the data is gone: rolling back the code cannot bring it back.
On PostgreSQL `DROP TABLE` also takes an ACCESS EXCLUSIVE lock that queues
behind any open transaction on the table.
See https://www.postgresql.org/docs/current/sql-droptable.html

## Safe alternative
Drop the table in two releases. First delete the model from the state only,
with `SeparateDatabaseAndState`, after dropping the database constraints of
its foreign keys, so that the new code can still delete the rows they point
to:

    import django.db.models.deletion
    from django.db import migrations, models


    class Migration(migrations.Migration):
        dependencies = [("testapp", "0001_initial")]
        operations = [
            migrations.AlterField(
                "invoice",
                "order",
                models.ForeignKey(
                    db_constraint=False,
                    on_delete=django.db.models.deletion.CASCADE,
                    to="testapp.order",
                ),
            ),
            migrations.SeparateDatabaseAndState(
                state_operations=[migrations.DeleteModel("invoice")],
            ),
        ]

Then, post-deploy (`deploy_phase = "post"`), when no running code knows the
model any more, drop the table: put the model back in the state only (as
deploy 1 left it, foreign keys without their constraint) and let Django's own
`DeleteModel` drop it, auto-created many-to-many tables included, with each
database's SQL. The finding renders both as `# === Deploy 1 of 2` and
`# === Deploy 2 of 2`; applied in order they give the schema the original
migration gives. Removing a many-to-many field is staged the same way (its
`RemoveField` in the state only, then back in the state and removed). When a
later operation of the same migration changes the model again, only the first
release is given.

## Not flagged
- Migrations marked post-deploy (`deploy_phase = "post"`, django-safemigrate's
  `Safe.after_deploy`, django-syzygy's `Stage.POST_DEPLOY`): they run once the old code is gone.
- `DeleteModel` inside `SeparateDatabaseAndState(state_operations=...)`: the
  table stays.
- Tables created earlier in the same migration: nothing can be using them yet.
- Proxy and unmanaged models: Django drops no table for them.
- Many-to-many fields with an explicit `through` model: their table goes with
  `DeleteModel` of that model.
- RunSQL dropping a table (or a view) that no model in the migration state
  maps: Django code cannot be querying it. Raw SQL in your own code is beyond
  lint's sight.

## Databases
PostgreSQL, MySQL/MariaDB and SQLite: the breakage is the same everywhere.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.db import migrations
from django.db.backends.utils import truncate_name
from django.db.migrations.state import ModelState
from django.db.models import Field
from pglast import ast, enums

from migration_pilot.analysis.schema import related_model_key, table_of
from migration_pilot.backends.base import DDL
from migration_pilot.diagnostics import Severity
from migration_pilot.lint import render
from migration_pilot.lint.context import OperationContext, SqlContext
from migration_pilot.lint.registry import Finding, Rule

rule = Rule(__name__, severity=Severity.ERROR, category="breaks-code")

HINT = (
    "Delete the model with SeparateDatabaseAndState (state only) first;"
    " drop the table in a later release, once no running code queries it."
)


def _message(table: str) -> str:
    return f"Dropping table {table} breaks the running code, which still queries it."


def _state_only(ctx: OperationContext, operation: render.Code, before: list[render.Code],
                restore: Any | None, changed_later: bool) -> str:
    """Deploy 1 removes the model (or field) from the state only; deploy 2 drops its table.

    Deploy 2, post-deploy, puts `restore` (the model or many-to-many field as
    deploy 1 left it in the database) back in the state alone and runs the
    original operation: Django's own DROP TABLE for each database, auto-created
    many-to-many tables included. None when a later operation of this migration
    changes the model again (the contract step would act on what that made).
    """
    wrapped = render.call(
        "migrations.SeparateDatabaseAndState",
        state_operations=render.raw(f"[{operation.text}]", *operation.imports),
    )
    if restore is None or changed_later:
        return render.migration(
            [*before, wrapped],
            dependencies=ctx.migration.dependencies,
            comment="Release 1: the table stays; drop it with RunSQL in a later release. (No contract"
                    " step here: a later operation of this migration changes the same model.)",
        )
    first = render.migration([*before, wrapped], dependencies=ctx.migration.dependencies,
                             comment="The table stays: the old code still queries it.")
    back = render.nested(restore)
    contract = render.migration(
        [render.call("migrations.SeparateDatabaseAndState",
                     state_operations=render.raw(f"[{back.text}]", *back.imports)), operation],
        dependencies=[(ctx.app_label, ctx.migration.name)], phase="post",
        comment="The old code is gone: the model back in the state only, then Django's own drop.")
    return render.staged((render.PRE_DEPLOY, [first]), (render.POST_DEPLOY, [contract]))


def _recreate(model: ModelState, dropped: set[str]) -> migrations.CreateModel:
    """CreateModel for `model` as the database has it after deploy 1 (`dropped`: foreign keys
    whose constraint deploy 1 dropped)."""
    fields = [(name, _without_constraint(field) if name in dropped else field.clone())
              for name, field in model.fields.items()]
    return migrations.CreateModel(model.name, fields, options=dict(model.options),
                                  bases=model.bases, managers=list(model.managers))


def _without_constraint(field: Field) -> Field:
    _, _, args, kwargs = field.deconstruct()
    kwargs["db_constraint"] = False
    return type(field)(*args, **kwargs)


def _constraint_drops(ctx: OperationContext, model: ModelState) -> list[str]:
    """The foreign keys to another model whose database constraint deploy 1 drops."""
    drops = []
    for name, field in model.fields.items():
        if not (field.many_to_one or field.one_to_one) or not getattr(field, "db_constraint", True):
            continue
        if related_model_key(field, ctx.app_label) == (model.app_label, model.name_lower):
            continue
        drops.append(name)
    return drops


@rule.on(migrations.DeleteModel)
def check_delete_model(ctx: OperationContext, op: migrations.DeleteModel) -> Iterator[Finding]:
    model = ctx.model(op.name)
    table = ctx.table(op.name)
    if model is None or not ctx.has_table(op.name) or ctx.is_new_table(table):
        return
    drops = _constraint_drops(ctx, model)
    yield Finding(
        message=_message(table),
        hint=HINT,
        lock=ctx.lock(DDL.DROP_TABLE, table),
        safe_alternative=_state_only(
            ctx, render.call("migrations.DeleteModel", op.name),
            [render.call("migrations.AlterField", op.name, name, _without_constraint(model.fields[name]))
             for name in drops],
            _recreate(model, set(drops)), ctx.changed_later(op.name)),
    )


def _m2m_table(model: ModelState, name: str, field: Field, max_length: int) -> str:
    """Django's name for the auto-created table of many-to-many field `name`."""
    explicit = getattr(field, "db_table", None)
    if explicit:
        return str(explicit)
    return str(truncate_name(f"{table_of(model, max_length)}_{name}", max_length))


def _added_earlier(ctx: OperationContext, model_name: str, name: str) -> bool:
    """Whether an AddField earlier in this migration created the field (and its table)."""
    earlier = getattr(ctx.migration.migration, "operations", [])[: ctx.visit.index]
    return any(
        isinstance(op, migrations.AddField)
        and op.model_name_lower == model_name.lower()
        and op.name_lower == name.lower()
        for op in earlier
    )


@rule.on(migrations.RemoveField)
def check_remove_m2m(ctx: OperationContext, op: migrations.RemoveField) -> Iterator[Finding]:
    model = ctx.model(op.model_name)
    field = ctx.field(op.model_name, op.name)
    if model is None or field is None or not field.many_to_many or not ctx.has_table(op.model_name):
        return
    if getattr(field.remote_field, "through", None) is not None:
        return
    table = _m2m_table(model, op.name, field, ctx.profile.max_name_length())
    if ctx.is_new_table(table) or ctx.is_new_table(ctx.table(op.model_name)):
        return
    if _added_earlier(ctx, op.model_name, op.name):
        return
    yield Finding(
        message=_message(table),
        hint=HINT,
        lock=ctx.lock(DDL.DROP_TABLE, table),
        safe_alternative=_state_only(
            ctx, render.call("migrations.RemoveField", op.model_name, op.name), [],
            migrations.AddField(op.model_name, op.name, field.clone()),
            ctx.changed_later(op.model_name, op.name)),
    )


@rule.on_sql(ast.DropStmt)
def check_sql(ctx: SqlContext, stmt: ast.DropStmt) -> Iterator[Finding]:
    if stmt.removeType != enums.ObjectType.OBJECT_TABLE:
        return
    for names in stmt.objects or ():
        table = str(names[-1].sval)
        if ctx.model_for_table(table) is None or ctx.is_new_table(table):
            continue
        yield Finding(
            message=_message(table),
            hint="Delete the model with SeparateDatabaseAndState (state only) first;"
                 " run DROP TABLE in a later release.",
            lock=ctx.lock(DDL.DROP_TABLE, table),
        )
