"""Adding a column whose DDL rewrites the whole table.

## What it does
Flags `AddField` on a table created before this migration when the database
must write a value into every existing row:
- a `GeneratedField` with `db_persist=True` (a stored generated column);
- an auto-increment field (`AutoField`, `BigAutoField`, `SmallAutoField`);
- on PostgreSQL, a `db_default` that calls a volatile function (`Random()`,
  `UUID4()`/`UUID7()` on Django 6, `Func(function="gen_random_uuid")`,
  `clock_timestamp()`, `nextval()`, ...);
- on PostgreSQL before 11 (`--pg-version`), any column added with a DEFAULT.

RunSQL `ALTER TABLE ... ADD COLUMN` with `GENERATED ... STORED`, `GENERATED
... AS IDENTITY`, a `serial` type or a volatile DEFAULT is flagged on
PostgreSQL with the same id.

## Why is this dangerous?
From PostgreSQL 11 a non-volatile default is stored once in the catalog and
adding the column is instant. A value that differs per row (volatile default,
identity, stored generated expression) cannot be: PostgreSQL rewrites the table
and its indexes under ACCESS EXCLUSIVE, so every query waits for the whole
rewrite. MySQL/MariaDB rebuild the table for a stored generated column
(ALGORITHM=COPY) and for an auto-increment column (LOCK=SHARED), blocking
writes meanwhile.
See https://www.postgresql.org/docs/current/sql-altertable.html#SQL-ALTERTABLE-NOTES
and https://dev.mysql.com/doc/refman/8.0/en/innodb-online-ddl-operations.html#online-ddl-column-operations

## Safe alternative
Add the column nullable and without the default, which is instant:

    from django.db import migrations, models


    class Migration(migrations.Migration):
        dependencies = [("testapp", "0001_initial")]
        operations = [
            migrations.AddField("order", "token", models.UUIDField(null=True)),
        ]

The finding renders this as a staged fix with the user's names. Deploy 1
(pre-deploy) adds the column nullable and then sets its `db_default` with
`AlterField` (setting a default on an existing column only touches the
catalog, so new rows get it). Deploy 2 (post-deploy) fills the rows that have
no value yet in batches (RunPython, `atomic = False`, the same expression
evaluated per row), then gives the field the original's definition: on a
PostgreSQL-only project NOT NULL through a CHECK added NOT VALID and
validated, else `AlterField`. Applied in order they give the schema the
original migration gives. A unique column stays a first release (the
original's inline UNIQUE gets a name from PostgreSQL that `AlterField` would
not give: see `add-unique-non-concurrent`), as does a default computed in
Python; the fix says so. For a stored generated column, add a plain nullable
column, backfill it in batches and keep it current from the code (or a
trigger), or compute the value in queries instead.

## Not flagged
- Tables created earlier in the same migration, unmanaged and proxy models.
- Constant and non-volatile defaults on PostgreSQL 11+: `Now()` is
  `STATEMENT_TIMESTAMP()`, which is STABLE, so the value is computed once.
  Functions this rule does not know are taken as non-volatile (most built-in
  functions are); a user-defined function is VOLATILE unless declared
  otherwise, so review those.
- Virtual generated columns (`db_persist=False`), which store nothing.
- MySQL/MariaDB defaults: ADD COLUMN with a default, even an expression such
  as `(rand())`, is instant on MariaDB 10.11 (verified); SQLite: no concurrent
  traffic worth protecting.

## Databases
PostgreSQL (version aware: every default rewrites before 11) and MySQL/MariaDB
(stored generated and auto-increment columns).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.db import migrations
from django.db.models import NOT_PROVIDED, Field, Func
from django.db.models.expressions import RawSQL, Value
from django.db.models.fields import AutoFieldMixin
from pglast import ast, parse_sql
from pglast.enums import AlterTableType, ConstrType
from pglast.visitors import Visitor

from migration_pilot.backends.base import DDL
from migration_pilot.diagnostics import Severity
from migration_pilot.lint import render
from migration_pilot.lint.context import OperationContext, SqlContext
from migration_pilot.lint.fill import BATCH, fill_migration
from migration_pilot.lint.registry import Finding, Rule
from migration_pilot.lint.rules.set_not_null import not_null_migrations
from migration_pilot.lint.rules.vendor_specific_operation import targeted_vendors

rule = Rule(__name__, severity=Severity.ERROR, vendors={"postgresql", "mysql"}, category="locks")

VOLATILE_FUNCTIONS = frozenset({
    "random", "random_normal", "setseed", "gen_random_uuid", "uuidv4", "uuidv7",
    "uuid_generate_v1", "uuid_generate_v1mc", "uuid_generate_v4", "clock_timestamp",
    "timeofday", "nextval", "txid_current", "pg_current_xact_id",
})
"""PostgreSQL built-ins whose provolatile is 'v' (pg_proc), plus uuid-ossp's generators."""
_SERIAL_TYPES = frozenset({"serial", "serial2", "serial4", "serial8", "smallserial", "bigserial"})
HINT = ("Add the column nullable without the default, backfill it in batches, then set the"
        " default in a later migration.")
NO_RECIPE_HINT = ("Schedule it for a quiet period, or add a plain nullable column and backfill"
                  " it in batches instead.")


class _FunctionCalls(Visitor):  # type: ignore[misc]
    """Collects the names of the functions an SQL expression calls."""

    def __init__(self) -> None:
        super().__init__()
        self.names: set[str] = set()

    def visit_FuncCall(self, ancestors: Any, node: Any) -> None:
        self.names.add(str(node.funcname[-1].sval).lower())


def _sql_calls(node: Any) -> set[str]:
    calls = _FunctionCalls()
    calls(node)
    return calls.names


def volatile_call(expression: Any) -> str | None:
    """The name of a volatile function `expression` calls, or None."""
    if isinstance(expression, RawSQL):
        try:
            names = _sql_calls(parse_sql(f"SELECT {expression.sql}")[0].stmt)
        except Exception:  # not SQL we can read: treat like an unknown function
            return None
        return next(iter(sorted(names & VOLATILE_FUNCTIONS)), None)
    if isinstance(expression, Func):
        function = getattr(expression, "extra", {}).get("function") or expression.function
        names = {str(function or "").lower(), type(expression).__name__.lower()}
        found = names & (VOLATILE_FUNCTIONS | {"uuid4", "uuid7"})
        if found:
            return f"{sorted(found)[0]}()"
    getter = getattr(expression, "get_source_expressions", None)
    for source in (getter() if callable(getter) else ()):
        name = volatile_call(source)
        if name is not None:
            return name
    return None


def _has_default(field: Field) -> bool:
    """Whether Django's ADD COLUMN carries a DEFAULT clause (its `effective_default`)."""
    db_default = getattr(field, "db_default", NOT_PROVIDED)
    if db_default is not NOT_PROVIDED:
        return not (isinstance(db_default, Value) and db_default.value is None)
    if field.has_default():
        return field.default is not None
    return bool(not field.null and field.blank and field.empty_strings_allowed) or bool(
        getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False))


def _reason(ctx: OperationContext, field: Field) -> tuple[str, bool] | None:
    """Why adding `field` rewrites the table on this database, and whether a recipe exists."""
    if getattr(field, "generated", False):
        return ("a stored generated column is computed for every row", False) if getattr(
            field, "db_persist", False) else None
    if isinstance(field, AutoFieldMixin):
        return "an auto-increment column numbers every row", False
    if ctx.vendor != "postgresql":
        return None
    db_default = getattr(field, "db_default", NOT_PROVIDED)
    volatile = volatile_call(db_default) if db_default is not NOT_PROVIDED else None
    if volatile is not None:
        return f"its default {volatile} is volatile, so it is evaluated for every row", True
    old_rewrites = getattr(ctx.profile, "constant_default_rewrites", None)
    if callable(old_rewrites) and old_rewrites() and _has_default(field):
        return "before PostgreSQL 11 a column's DEFAULT is written into every row", True
    return None


def _message(table: str, column: str, reason: str, blocks: str) -> str:
    return (f"Adding {column} to {table} rewrites {table} ({reason}), blocking {blocks} until"
            " every row is written.")




def _first_release(ctx: OperationContext, op: migrations.AddField, first: str, why: str) -> str:
    steps = render.steps(
        f"backfill {op.name} in batches (RunPython with atomic = False);",
        f"in a later migration, AlterField {op.name} with its default (catalog only);",
        f"make {op.name} NOT NULL if needed (see set-not-null).",
    )
    return (first + f"\n# No contract step is generated: {why}\n# Then:\n"
            + "\n".join(f"# {line}" for line in steps.splitlines()) + "\n")


def _fill_value(field: Field) -> Any | None:
    """The SQL expression that gives each existing row the value the original ADD COLUMN gave it."""
    db_default = getattr(field, "db_default", NOT_PROVIDED)
    if db_default is not NOT_PROVIDED:
        return db_default
    if field.has_default() and not callable(field.default) and field.default is not None:
        return Value(field.default)
    return None


def _fill(ctx: OperationContext, op: migrations.AddField, value: Any) -> str:
    """Fills the rows that have no value yet, in batches, each committed on its own."""
    expression = render.value(value)
    return fill_migration(ctx, op, expression.text, expression.imports, [
        f"Every row still without {op.name}, {BATCH} at a time: the expression is evaluated per row,",
        "as the original ADD COLUMN did."])


def _alternative(ctx: OperationContext, op: migrations.AddField) -> str:
    """Deploy 1 adds the column empty (instant); deploy 2 sets the default, fills it, then
    gives it the original's definition (NOT NULL, indexes)."""
    _, _, args, kwargs = op.field.deconstruct()
    for key in ("default", "db_default", "unique", "db_index", "primary_key"):
        kwargs.pop(key, None)
    kwargs["null"] = True
    add = render.call("migrations.AddField", op.model_name, op.name, type(op.field)(*args, **kwargs))
    first = render.migration([add], dependencies=ctx.migration.dependencies)
    value = _fill_value(op.field)
    if value is None:
        return _first_release(ctx, op, first, "the default is computed in Python for each row.")
    if op.field.unique or op.field.primary_key:
        return _first_release(ctx, op, first, "the original's inline UNIQUE gets a name from PostgreSQL"
                              " that an AlterField would not give (see add-unique-non-concurrent).")
    if ctx.changed_later(op.model_name, op.name):
        return _first_release(ctx, op, first, "a later operation of this migration changes the field again.")
    db_default = getattr(op.field, "db_default", NOT_PROVIDED)
    if db_default is not NOT_PROVIDED:
        # Setting a default on an existing column only touches the catalog: new rows get it.
        kwargs["db_default"] = db_default
        first = render.migration(
            [add, render.call("migrations.AlterField", op.model_name, op.name, type(op.field)(*args, **kwargs))],
            dependencies=ctx.migration.dependencies,
            comment="The column empty, then its default for new rows: neither rewrites the table.")
    steps: list[str] = []
    steps.append(_fill(ctx, op, value))
    filled = [(ctx.app_label, f"{ctx.migration.name}_fill_{op.name}")]
    not_null: list[str] = []
    if not op.field.null and not op.field.db_index and targeted_vendors(ctx) == {"postgresql"}:
        # NOT NULL through a validated CHECK: no scan under ACCESS EXCLUSIVE.
        not_null = not_null_migrations(ctx, migrations.AlterField(op.model_name, op.name, op.field),
                                       ctx.table(op.model_name), ctx.column(op.name, op.field) or op.name,
                                       filled, f"{ctx.migration.name}_not_null")
    steps += not_null or [render.migration(
        [render.call("migrations.AlterField", op.model_name, op.name, op.field)],
        dependencies=filled,
        comment="Every row has its value: the field as the original migration adds it.")]
    return render.staged((render.PRE_DEPLOY, [first]), (render.POST_DEPLOY, [_post(m) for m in steps]))


def _post(migration_text: str) -> str:
    """`migration_text` marked post-deploy."""
    if "deploy_phase" in migration_text:
        return migration_text
    return migration_text.replace("class Migration(migrations.Migration):\n",
                                  "class Migration(migrations.Migration):\n    deploy_phase = 'post'\n", 1)


@rule.on(migrations.AddField)
def check_add_field(ctx: OperationContext, op: migrations.AddField) -> Iterator[Finding]:
    table = ctx.table(op.model_name)
    model = ctx.model(op.model_name)
    if ctx.is_new_table(table) or op.field.many_to_many:
        return
    if model is not None and (model.options.get("managed", True) is False
                              or model.options.get("proxy")):
        return
    found = _reason(ctx, op.field)
    column = ctx.column(op.name, op.field)
    if found is None or column is None:
        return
    reason, recipe = found
    lock = ctx.lock(DDL.ADD_COLUMN_REWRITE, table)
    yield Finding(
        message=_message(table, column, reason, lock.blocks.describe()),
        hint=HINT if recipe else NO_RECIPE_HINT,
        lock=lock,
        safe_alternative=_alternative(ctx, op) if recipe else None,
    )


def _sql_reason(ctx: SqlContext, column: ast.ColumnDef) -> str | None:
    type_name: Any = column.typeName
    if type_name is not None and str(type_name.names[-1].sval).lower() in _SERIAL_TYPES:
        return "a serial column numbers every row"
    defaults = [column.raw_default] if column.raw_default is not None else []
    for constraint in column.constraints or ():
        if not isinstance(constraint, ast.Constraint):
            continue
        if constraint.contype == ConstrType.CONSTR_IDENTITY:
            return "an identity column numbers every row"
        if constraint.contype == ConstrType.CONSTR_GENERATED and constraint.generated_kind == "s":
            return "a stored generated column is computed for every row"
        if constraint.contype == ConstrType.CONSTR_DEFAULT and constraint.raw_expr is not None:
            defaults.append(constraint.raw_expr)
    for expression in defaults:
        volatile = sorted(_sql_calls(expression) & VOLATILE_FUNCTIONS)
        if volatile:
            return f"its default {volatile[0]}() is volatile, so it is evaluated for every row"
    old_rewrites = getattr(ctx.profile, "constant_default_rewrites", None)
    null_default = all(isinstance(e, ast.A_Const) and e.isnull for e in defaults)
    if defaults and not null_default and callable(old_rewrites) and old_rewrites():
        return "before PostgreSQL 11 a column's DEFAULT is written into every row"
    return None


@rule.on_sql(ast.AlterTableStmt)
def check_sql(ctx: SqlContext, stmt: ast.AlterTableStmt) -> Iterator[Finding]:
    if ctx.vendor != "postgresql" or stmt.relation is None:
        return
    table = str(stmt.relation.relname)
    if ctx.is_new_table(table):
        return
    for cmd in stmt.cmds or ():
        definition = getattr(cmd, "def_", None)
        if getattr(cmd, "subtype", None) != AlterTableType.AT_AddColumn or not isinstance(
                definition, ast.ColumnDef):
            continue
        reason = _sql_reason(ctx, definition)
        if reason is None:
            continue
        lock = ctx.lock(DDL.ADD_COLUMN_REWRITE, table)
        yield Finding(
            message=_message(table, str(definition.colname), reason, lock.blocks.describe()),
            hint=("Add the column without the default, backfill it in batches, then SET DEFAULT"
                  " in a later migration."),
            lock=lock,
        )
