"""Making an existing column NOT NULL, which scans the table under ACCESS EXCLUSIVE.

## What it does
Flags `AlterField` from `null=True` to `null=False` on a table created before
this migration, and RunSQL `ALTER TABLE ... ALTER COLUMN ... SET NOT NULL`.

## Why is this dangerous?
`SET NOT NULL` takes ACCESS EXCLUSIVE and reads every row to prove no NULL is
left; every query on the table waits until the migration commits. When the new
field has a `default`, Django also runs `UPDATE ... SET col = default WHERE col
IS NULL` under that same lock first.
See https://www.postgresql.org/docs/current/sql-altertable.html#SQL-ALTERTABLE-DESC-SET-DROP-NOT-NULL

## Safe alternative
From PostgreSQL 12, `SET NOT NULL` skips the scan when a validated
`CHECK (col IS NOT NULL)` proves it. Three migrations, each in its own
transaction. First, add the check `NOT VALID` (brief lock, no scan):

    from django.contrib.postgres.operations import AddConstraintNotValid
    from django.db import migrations, models


    class Migration(migrations.Migration):
        dependencies = [("testapp", "0001_initial")]
        operations = [
            AddConstraintNotValid(
                "invoice",
                models.CheckConstraint(
                    condition=models.Q(status__isnull=False), name="invoice_status_not_null"
                ),
            ),
        ]

Second (after backfilling NULLs in batches), validate it; the scan holds only
SHARE UPDATE EXCLUSIVE:

    operations = [ValidateConstraint("invoice", "invoice_status_not_null")]

Third, set NOT NULL in the database (no scan now) while the state gets your
`AlterField`, then drop the helper check:

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.AlterField("invoice", "status", ...)],
            database_operations=[migrations.RunSQL(
                'ALTER TABLE "testapp_invoice" ALTER COLUMN "status" SET NOT NULL',
                reverse_sql='ALTER TABLE "testapp_invoice" ALTER COLUMN "status" DROP NOT NULL',
            )],
        ),
        migrations.RemoveConstraint("invoice", "invoice_status_not_null"),
    ]

The finding renders all three with your names.

## Not flagged
- Tables created earlier in the same migration, unmanaged and proxy models.
- Fields that were already NOT NULL.
- PostgreSQL 12+, when the model state already has a `CheckConstraint` with
  `Q(col__isnull=False)` that this migration did not add `NOT VALID`: it is
  taken as validated, and `SET NOT NULL` then skips the scan.
- MySQL/MariaDB: InnoDB makes a column NOT NULL in place with `LOCK=NONE`
  (verified on MariaDB 10.11: `ALGORITHM=INPLACE, LOCK=NONE` is accepted);
  reads and writes go on. SQLite: no concurrent readers worth protecting.

## Databases
PostgreSQL (all supported versions; the recipe needs PostgreSQL 12+).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.db import migrations
from django.db.backends.utils import truncate_name
from django.db.migrations.state import ModelState
from django.db.models import NOT_PROVIDED, CheckConstraint, Q
from pglast import ast
from pglast.enums import AlterTableType

from migration_pilot.analysis.schema import columns_of
from migration_pilot.backends.base import DDL
from migration_pilot.diagnostics import Severity
from migration_pilot.lint import render
from migration_pilot.lint.context import OperationContext, SqlContext
from migration_pilot.lint.registry import Finding, Rule

rule = Rule(__name__, severity=Severity.ERROR, vendors={"postgresql"}, category="locks")

HINT = (
    "Add CHECK (col IS NOT NULL) NOT VALID, validate it in the next migration, then SET NOT NULL"
    " (no scan on PostgreSQL 12+) and drop the check."
)
OLD_PG_HINT = (
    "Before PostgreSQL 12 SET NOT NULL always scans: run it in a quiet period, or keep a"
    " validated CHECK (col IS NOT NULL) instead of NOT NULL."
)


def _message(table: str, column: str) -> str:
    return (
        f"Making {column} NOT NULL on {table} blocks reads and writes to {table} while every"
        " row is checked for NULL."
    )


def _uses_check(ctx: OperationContext) -> bool:
    supported = getattr(ctx.profile, "not_null_uses_check_constraint", None)
    return bool(supported()) if callable(supported) else False


def _proven_by_check(ctx: OperationContext, model: ModelState | None, field_name: str) -> bool:
    """A validated CHECK (field IS NOT NULL) in the state lets PostgreSQL 12+ skip the scan."""
    if model is None or not _uses_check(ctx):
        return False
    for constraint in model.options.get("constraints") or ():
        if not isinstance(constraint, CheckConstraint):
            continue
        if constraint.name in ctx.migration.not_valid_constraints:
            continue
        condition: Any = getattr(constraint, "condition", None) or getattr(constraint, "check", None)
        if (isinstance(condition, Q) and not condition.negated and condition.children
                == [(f"{field_name}__isnull", False)]):
            return True
    return False


def _next_name(name: str, offset: int, suffix: str) -> str:
    """The name of the migration `offset` places after `name`, e.g. 0003_invoice_status_validate."""
    number = name.split("_", 1)[0]
    if number.isdigit():
        return f"{int(number) + offset:0{len(number)}d}_{suffix}"
    return f"{name}_{offset}_{suffix}"


def _alternative(ctx: OperationContext, op: migrations.AlterField, table: str,
                 column: str) -> str | None:
    parts = not_null_migrations(ctx, op, table, column, ctx.migration.dependencies, ctx.migration.name,
                                fill=_fills_nulls(op.field))
    return render.chain(*parts) if parts else None


def _fills_nulls(field: Any) -> bool:
    """Whether Django's AlterField to NOT NULL first sets the NULL rows to the new default.

    Its schema editor does (`UPDATE ... SET col = default WHERE col IS NULL`) when the new
    field has a default or a db_default; the fix must too, or VALIDATE finds the NULLs.
    """
    return bool(field.has_default() or getattr(field, "db_default", NOT_PROVIDED) is not NOT_PROVIDED)


def _fill_nulls(ctx: OperationContext, op: migrations.AlterField) -> tuple[render.Code, str, list[str]]:
    """RunPython setting the NULL rows to the field's default in batches, as Django's UPDATE would."""
    db_default = getattr(op.field, "db_default", NOT_PROVIDED)
    if db_default is not NOT_PROVIDED:
        value = render.value(db_default)
        first_line = f"value = {value.text}"
    elif callable(op.field.default):
        value = render.value(op.field.default)
        first_line = f"value = {value.text}()  # evaluated once, as Django's schema editor does"
    else:
        value = render.value(op.field.default)
        first_line = f"value = {value.text}"
    function = f"fill_{op.name}"
    code = f"""def {function}(apps, schema_editor):
    # The rows that are NULL get the default, as the original AlterField's UPDATE gives them,
    # {BATCH} at a time, each batch committed on its own.
    {first_line}
    rows = apps.get_model({ctx.app_label!r}, {op.model_name!r}).objects.using(schema_editor.connection.alias)
    while True:
        batch = list(rows.filter({op.name}__isnull=True).values_list("pk", flat=True)[:{BATCH}])
        if not batch:
            break
        rows.filter(pk__in=batch).update({op.name}=value)"""
    run = render.call("migrations.RunPython", render.raw(function),
                      reverse_code=render.raw("migrations.RunPython.noop"))
    return run, code, sorted(value.imports)


BATCH = 1000


def not_null_migrations(ctx: OperationContext, op: migrations.AlterField, table: str, column: str,
                        dependencies: list[tuple[str, str]], own: str, *, fill: bool = False) -> list[str]:
    """The three migrations that make `column` NOT NULL without a scan under ACCESS EXCLUSIVE
    (PostgreSQL 12+; [] before): CHECK NOT VALID, VALIDATE, then SET NOT NULL with the state's
    AlterField. The first depends on `dependencies`; `own` names the later ones. `fill`: a
    migration before VALIDATE sets the NULL rows to the field's default in batches."""
    if not _uses_check(ctx):
        return []
    name = truncate_name(f"{op.model_name.lower()}_{op.name}_not_null",
                         ctx.profile.max_name_length())
    check = CheckConstraint(condition=Q((f"{op.name}__isnull", False)), name=name)
    shift = 1 if fill else 0
    validate = _next_name(own, 1 + shift, f"{op.model_name.lower()}_{op.name}_validate")
    first = render.migration([render.call("AddConstraintNotValid", op.model_name, check)],
                             dependencies=dependencies,
                             comment=None if own == ctx.migration.name else f"Save as {own}.py.")
    fills: list[str] = []
    before_validate = own
    if fill:
        run, code, imports = _fill_nulls(ctx, op)
        before_validate = _next_name(own, 1, f"{op.model_name.lower()}_{op.name}_fill")
        fills.append(render.with_code(render.migration(
            [run], dependencies=[(ctx.app_label, own)], atomic=False,
            comment=f"{before_validate}: the NULL rows get the default, as the original's UPDATE gives them."),
            code, imports=imports))
    second = render.migration([render.call("ValidateConstraint", op.model_name, name)],
                              dependencies=[(ctx.app_label, before_validate)],
                              comment=f"{validate}: backfill NULLs in batches before it runs.")
    alter = render.call("migrations.AlterField", op.model_name, op.name, op.field)
    sql = render.call(
        "migrations.RunSQL",
        f"ALTER TABLE {render.pg_identifier(table)} ALTER COLUMN {render.pg_identifier(column)} SET NOT NULL",
        reverse_sql=f"ALTER TABLE {render.pg_identifier(table)} ALTER COLUMN {render.pg_identifier(column)}"
                    " DROP NOT NULL",
    )
    third = render.migration(
        [render.call("migrations.SeparateDatabaseAndState",
                     state_operations=render.Code(f"[{alter.text}]", alter.imports),
                     database_operations=render.Code(f"[{sql.text}]", sql.imports)),
         render.call("migrations.RemoveConstraint", op.model_name, name)],
        dependencies=[(ctx.app_label, validate)],
        comment=f"{_next_name(own, 2 + shift, f'{op.model_name.lower()}_{op.name}_not_null')}",
    )
    return [first, *fills, second, third]


@rule.on(migrations.AlterField)
def check_alter_field(ctx: OperationContext, op: migrations.AlterField) -> Iterator[Finding]:
    table = ctx.table(op.model_name)
    model = ctx.model(op.model_name)
    old = ctx.field(op.model_name, op.name)
    new = op.field
    if old is None or model is None or ctx.is_new_table(table):
        return
    if model.options.get("managed", True) is False or model.options.get("proxy"):
        return
    if not getattr(old, "null", False) or getattr(new, "null", False) or new.many_to_many:
        return
    column = ctx.column(op.name, new)
    if column is None or getattr(new, "generated", False) or _proven_by_check(ctx, model, op.name):
        return
    yield Finding(
        message=_message(table, column),
        hint=HINT if _uses_check(ctx) else OLD_PG_HINT,
        lock=ctx.lock(DDL.SET_NOT_NULL, table),
        safe_alternative=_alternative(ctx, op, table, column),
    )


@rule.on_sql(ast.AlterTableStmt)
def check_sql(ctx: SqlContext, stmt: ast.AlterTableStmt) -> Iterator[Finding]:
    if stmt.relation is None:
        return
    table = str(stmt.relation.relname)
    if ctx.is_new_table(table):
        return
    model = ctx.model_for_table(table)
    for cmd in stmt.cmds or ():
        if getattr(cmd, "subtype", None) != AlterTableType.AT_SetNotNull or not cmd.name:
            continue
        column = str(cmd.name)
        field_name = columns_of(model).get(column) if model is not None else None
        if field_name is not None and _proven_by_check(ctx, model, field_name):
            continue
        yield Finding(
            message=_message(table, column),
            hint=HINT if _uses_check(ctx) else OLD_PG_HINT,
            lock=ctx.lock(DDL.SET_NOT_NULL, table),
        )
