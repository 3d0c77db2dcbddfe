"""Adding a foreign key that PostgreSQL validates while it locks both tables.

## What it does
Flags, on a table created before this migration:
- `AddField` of a `ForeignKey`/`OneToOneField` with `db_constraint=True`;
- `AlterField` that turns a column into a foreign key, re-enables
  `db_constraint`, or points it at another table;
- `AlterField` of a foreign key that changes anything Django writes SQL for
  (a nullable foreign key made NOT NULL, its type, `db_index`, ...): Django's
  schema editor drops the constraint and adds it back, validated;
- `RenameModel` that renames the table: Django re-creates every foreign key
  that points at it (from other tables and from the table itself), validated,
  except those with a `related_name` ending in `+`, which it leaves alone;
- RunSQL `ALTER TABLE ... ADD [CONSTRAINT ...] FOREIGN KEY` and
  `ADD COLUMN ... REFERENCES` without `NOT VALID`.

## Why is this dangerous?
A foreign key is created with SHARE ROW EXCLUSIVE on the referencing table
and on the referenced table: INSERT, UPDATE and DELETE on both wait. Unless it
is `NOT VALID`, PostgreSQL then reads every row of the referencing table to
prove each value exists, and the locks stay until the migration commits.
`AddField` puts the constraint inline in `ADD COLUMN`, so the referencing
table is held in ACCESS EXCLUSIVE (reads wait too). When the new column has no
default PostgreSQL skips the check (every value is NULL), but both locks are
still held for the rest of the migration, including the index Django builds
for the field (`db_index=True`): a write to the referenced table, often a hot
one such as users or customers, waits for all of it.
See https://www.postgresql.org/docs/current/sql-altertable.html#SQL-ALTERTABLE-DESC-ADD-TABLE-CONSTRAINT

## Safe alternative
Add the column without a constraint and the constraint `NOT VALID` (no scan,
short locks), keeping the real field in the migration state:

    from django.db import migrations, models


    class Migration(migrations.Migration):
        dependencies = [("testapp", "0001_initial")]
        operations = [
            migrations.SeparateDatabaseAndState(
                state_operations=[
                    migrations.AddField(
                        "invoice",
                        "customer",
                        models.ForeignKey(
                            "testapp.customer", db_index=False, null=True,
                            on_delete=models.CASCADE,
                        ),
                    ),
                ],
                database_operations=[
                    migrations.AddField(
                        "invoice",
                        "customer",
                        models.ForeignKey(
                            "testapp.customer", db_constraint=False, db_index=False,
                            null=True, on_delete=models.CASCADE,
                        ),
                    ),
                    migrations.RunSQL(
                        'ALTER TABLE "testapp_invoice" ADD CONSTRAINT'
                        ' "testapp_invoice_customer_id_03081d62_fk_testapp_customer_id"'
                        ' FOREIGN KEY ("customer_id") REFERENCES "testapp_customer" ("id")'
                        " DEFERRABLE INITIALLY DEFERRED NOT VALID",
                        reverse_sql='ALTER TABLE "testapp_invoice" DROP CONSTRAINT'
                        ' "testapp_invoice_customer_id_03081d62_fk_testapp_customer_id"',
                    ),
                ],
            ),
        ]

The constraint keeps the name Django gives it. Then, in a later migration,
`ALTER TABLE "testapp_invoice" VALIDATE CONSTRAINT ...`: it scans under
SHARE UPDATE EXCLUSIVE, which blocks neither reads nor writes (see
`validate-in-same-transaction`). For a field with `db_index=True` (the
default for a ForeignKey), build its index before that with
`CREATE INDEX CONCURRENTLY`, in a migration of its own with `atomic = False`.
The finding renders every migration with the SQL Django's own schema editor
writes for your field, so names and operator classes match the original.

## Not flagged
- Tables created earlier in the same migration, and unmanaged or proxy models.
- `db_constraint=False` fields, and RunSQL constraints added `NOT VALID`.
- `AlterField` of a field that already had its constraint to the same table
  and changes only what Django writes no SQL for (choices, help_text,
  verbose_name, validators, on_delete, related_name, ...).
- A new column without a default in a migration with `atomic = False`: the
  `ADD COLUMN` commits at once without checking any row, so its locks are
  brief; the index Django then builds for it is `add-index-non-concurrent`'s
  finding. In an atomic migration this rule's finding covers that index
  build (the locks are held through it), and `add-index-non-concurrent` does
  not repeat it.
- MySQL/MariaDB and SQLite: no `NOT VALID` exists there, so there is no
  cheaper way to offer; SQLite does not enforce a lock on other writers worth
  protecting.

## Databases
PostgreSQL (all supported versions).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

from django.db import migrations
from django.db.migrations.state import ModelState
from django.db.models import NOT_PROVIDED, Field
from pglast import ast
from pglast.enums import AlterTableType, ConstrType

from migration_pilot.analysis.schema import (
    column_of,
    default_table_name,
    find_model,
    related_model_key,
    table_of,
)
from migration_pilot.backends.base import DDL
from migration_pilot.diagnostics import Severity
from migration_pilot.lint import render, sqlgen
from migration_pilot.lint.context import OperationContext, SqlContext
from migration_pilot.lint.registry import Finding, Rule

rule = Rule(__name__, severity=Severity.ERROR, vendors={"postgresql"}, category="locks")

HINT = (
    "Add the constraint NOT VALID (SeparateDatabaseAndState with RunSQL), then VALIDATE"
    " CONSTRAINT in a later migration."
)
RECREATE_HINT = (
    "Keep the constraint out of Django's way: in SeparateDatabaseAndState, run the change with"
    " db_constraint=False and add the constraint back NOT VALID with RunSQL, then VALIDATE"
    " CONSTRAINT in a later migration."
)
SQL_HINT = "Add it NOT VALID, then run VALIDATE CONSTRAINT in a later migration."


def _scanning_message(table: str, column: str, target: str, holding: str) -> str:
    return (
        f"Adding foreign key {column} to {table} checks every row of {table} against"
        f" {target} while holding {holding}."
    )


def _unmanaged(model: ModelState | None) -> bool:
    return model is not None and (
        model.options.get("managed", True) is False or bool(model.options.get("proxy"))
    )


def _has_constraint(field: Field | None) -> bool:
    return bool(
        field is not None
        and getattr(field, "remote_field", None) is not None
        and not field.many_to_many
        and getattr(field, "db_constraint", False)
    )


def _target(ctx: OperationContext, model_name: str, field: Field) -> tuple[str, str] | None:
    """(table, column) the foreign key references, from the migration state."""
    remote: Any = field.remote_field
    key = related_model_key(field, ctx.app_label)
    if key is None and getattr(remote, "model", None) == "self":
        key = (ctx.app_label, model_name.lower())
    model = find_model(ctx.state, *key) if key is not None else None
    if model is None:
        return None
    to_field = getattr(remote, "field_name", None)
    for name, target in model.fields.items():
        if (to_field and name == to_field) or (not to_field and target.primary_key):
            column = column_of(name, target)
            return (table_of(model, ctx.profile.max_name_length()), column or name)
    return (table_of(model, ctx.profile.max_name_length()), to_field or "id")


def _has_default(field: Field) -> bool:
    """Whether Django's ADD COLUMN carries a DEFAULT (then PostgreSQL validates every row)."""
    if getattr(field, "db_default", NOT_PROVIDED) is not NOT_PROVIDED:
        return True
    return field.has_default() and field.default is not None


def _without_constraint(field: Field) -> Field:
    _, _, args, kwargs = field.deconstruct()
    kwargs.update(db_constraint=False, db_index=False)
    return type(field)(*args, **kwargs)


def _alternative(ctx: OperationContext, op: migrations.AddField) -> str | None:
    """The field without constraint and index, Django's own constraint NOT VALID, then each index
    concurrently and the validation, in later migrations (one non-atomic step each)."""
    fk = sqlgen.field_foreign_key_after(ctx.state, ctx.app_label, op, op.model_name, op.name)
    indexes = sqlgen.field_indexes_after(ctx.state, ctx.app_label, op, op.model_name, op.name)
    if fk is None or indexes is None:
        return None
    parts = [render.migration(
        [render.call(
            "migrations.SeparateDatabaseAndState",
            state_operations=render.raw(
                f"[{render.call('migrations.AddField', op.model_name, op.name, op.field).text}]",
                *render.value(op.field).imports,
            ),
            database_operations=_database_operations(op, fk.add_not_valid, fk.drop),
        )],
        dependencies=ctx.migration.dependencies,
    )]
    previous = ctx.migration.name
    steps = [(index.name, [render.call("migrations.RunSQL", index.create_concurrently,
                                       reverse_sql=index.drop_concurrently)], False,
              f"index {index.name}, as Django names it, built concurrently.")
             for index in indexes]
    steps.append((fk.name, [render.call("migrations.RunSQL", fk.validate,
                                        reverse_sql=render.raw("migrations.RunSQL.noop"))], True,
                  "validation scans without blocking reads or writes."))
    for number, (_, operations, atomic, what) in enumerate(steps, 1):
        name = f"{ctx.migration.name}_{'validate' if atomic else 'index'}" + (
            "" if number == 1 or atomic else f"_{number}")
        parts.append(render.migration(
            operations, dependencies=[(ctx.app_label, previous)], atomic=atomic,
            comment=f"Save as {name}.py: {what}"))
        previous = name
    return "\n\n# --- next migration ---\n".join(parts)


def _database_operations(op: migrations.AddField, add: str, drop: str) -> render.Code:
    field = render.call("migrations.AddField", op.model_name, op.name, _without_constraint(op.field))
    sql = render.call("migrations.RunSQL", add, reverse_sql=drop)
    return render.Code(f"[{field.text}, {sql.text}]", field.imports | sql.imports)


@rule.on(migrations.AddField)
def check_add_field(ctx: OperationContext, op: migrations.AddField) -> Iterator[Finding]:
    table = ctx.table(op.model_name)
    field = op.field
    if ctx.is_new_table(table) or _unmanaged(ctx.model(op.model_name)) or not _has_constraint(field):
        return
    column = ctx.column(op.name, field)
    target = _target(ctx, op.model_name, field)
    if column is None or target is None:
        return
    holding = f"ACCESS EXCLUSIVE on {table} and SHARE ROW EXCLUSIVE on {target[0]}"
    lock = ctx.lock(DDL.ADD_COLUMN, table)
    covers: frozenset[str] = frozenset()
    if _has_default(field):
        message = _scanning_message(table, column, target[0], holding)
        lock = dataclasses.replace(lock, scans=True)
    else:
        if ctx.is_new_table(target[0]) or not ctx.atomic:
            # Outside a transaction the ADD COLUMN commits at once (no row is checked); the
            # index, if any, is built afterwards under its own lock: add-index-non-concurrent.
            return
        index = ""
        if getattr(field, "db_index", False):
            index = ", including its index build"
            covers = frozenset({"add-index-non-concurrent"})
        message = (
            f"Adding foreign key {column} to {table} holds {holding} (blocking writes to"
            f" {target[0]}) until the migration commits{index}."
        )
    yield Finding(message=message, hint=HINT, lock=lock, covers=covers,
                  safe_alternative=_alternative(ctx, op))


@rule.on(migrations.AlterField)
def check_alter_field(ctx: OperationContext, op: migrations.AlterField) -> Iterator[Finding]:
    table = ctx.table(op.model_name)
    old = ctx.field(op.model_name, op.name)
    new = op.field
    if old is None or ctx.is_new_table(table) or _unmanaged(ctx.model(op.model_name)):
        return
    if not _has_constraint(new):
        return
    target = _target(ctx, op.model_name, new)
    column = ctx.column(op.name, new)
    if target is None or column is None:
        return
    if _has_constraint(old) and _target(ctx, op.model_name, old) == target:
        if old is not None and _recreated(old, new):
            yield Finding(
                message=(
                    f"Altering {column} on {table} makes Django drop its foreign key to {target[0]}"
                    f" and add it back: {_checks(table, target[0])}"
                ),
                hint=RECREATE_HINT,
                lock=dataclasses.replace(ctx.lock(DDL.ADD_FOREIGN_KEY, table), scans=True),
                safe_alternative=_recreate_alternative(ctx, op),
            )
        return
    yield Finding(
        message=_scanning_message(table, column, target[0],
                                  f"SHARE ROW EXCLUSIVE on {table} and {target[0]}"),
        hint=HINT,
        lock=ctx.lock(DDL.ADD_FOREIGN_KEY, table),
    )


@rule.on(migrations.RenameModel)
def check_rename_model(ctx: OperationContext, op: migrations.RenameModel) -> Iterator[Finding]:
    """Django re-creates each foreign key into a renamed table, validating it."""
    model = ctx.model(op.old_name)
    if model is None or _unmanaged(model) or model.options.get("db_table"):
        return
    old_table = table_of(model, ctx.profile.max_name_length())
    new_table = default_table_name(ctx.app_label, op.new_name, ctx.profile.max_name_length())
    if old_table == new_table:
        return
    renamed = (ctx.app_label, op.old_name_lower)
    for (app_label, _), referencing in sorted(ctx.state.models.items()):
        if _unmanaged(referencing):
            continue
        table = table_of(referencing, ctx.profile.max_name_length())
        if referencing is model:
            table = new_table
        elif ctx.is_new_table(table):
            continue
        for name, field in referencing.fields.items():
            key = related_model_key(field, app_label)
            if key is None and getattr(field.remote_field, "model", None) == "self" and referencing is model:
                key = renamed
            if key != renamed or not _has_constraint(field) or _hidden(field):
                continue
            column = column_of(name, field) or name
            yield Finding(
                message=(
                    f"Renaming table {old_table} to {new_table} makes Django drop the foreign key"
                    f" {table}.{column} and add it back: {_checks(table, new_table)}"
                ),
                hint=("Keep the table's name (db_table in the model's Meta, as rename-table's fix does):"
                      " Django then renames nothing and re-creates no foreign key."),
                lock=dataclasses.replace(ctx.lock(DDL.ADD_FOREIGN_KEY, table), scans=True),
            )


def _recreate_alternative(ctx: OperationContext, op: migrations.AlterField) -> str | None:
    """The change with db_constraint=False (Django drops the constraint and adds none), Django's
    own constraint added back NOT VALID, then validated in the next migration."""
    fk = sqlgen.field_foreign_key_after(ctx.state, ctx.app_label, op, op.model_name, op.name)
    if fk is None:
        return None
    _, _, args, kwargs = op.field.deconstruct()
    kwargs["db_constraint"] = False
    loose = render.call("migrations.AlterField", op.model_name, op.name, type(op.field)(*args, **kwargs))
    state = render.call("migrations.AlterField", op.model_name, op.name, op.field)
    sql = render.call("migrations.RunSQL", fk.add_not_valid, reverse_sql=fk.drop)
    first = render.migration([render.call(
        "migrations.SeparateDatabaseAndState",
        state_operations=render.Code(f"[{state.text}]", state.imports),
        database_operations=render.Code(f"[{loose.text}, {sql.text}]", loose.imports | sql.imports),
    )], dependencies=ctx.migration.dependencies)
    name = f"{ctx.migration.name}_validate"
    second = render.migration(
        [render.call("migrations.RunSQL", fk.validate, reverse_sql=render.raw("migrations.RunSQL.noop"))],
        dependencies=[(ctx.app_label, ctx.migration.name)],
        comment=f"Save as {name}.py: validation scans without blocking reads or writes.")
    return render.chain(first, second)


def _hidden(field: Field) -> bool:
    """A relation with related_name ending in '+': RenameModel skips it (Django alters only the
    model's `_meta.related_objects`, which leave hidden ones out); the constraint follows the
    renamed table by itself."""
    related_name = getattr(field.remote_field, "related_name", None) or ""
    return related_name.endswith("+")


def _checks(table: str, target: str) -> str:
    return (f"the new constraint checks every row of {table} against {target} while holding"
            f" SHARE ROW EXCLUSIVE on {table} and {target} (writes to both wait).")


def _recreated(old: Field, new: Field) -> bool:
    """Whether Django's alter_field drops and re-adds the foreign key: as its
    _field_should_be_altered, any change to what the field writes to the database."""
    _, old_path, old_args, old_kwargs = old.deconstruct()
    _, new_path, new_args, new_kwargs = new.deconstruct()
    for field, kwargs in ((old, old_kwargs), (new, new_kwargs)):
        for attr in {"db_comment", "to", *getattr(field, "non_db_attrs", ())}:
            kwargs.pop(attr, None)
    return (old_path, old_args, old_kwargs) != (new_path, new_args, new_kwargs)


def _constraints_of(cmd: ast.AlterTableCmd) -> Iterator[tuple[ast.Constraint, bool]]:
    """Foreign-key constraints a command adds, with whether the column gets a default."""
    definition = cmd.def_
    if cmd.subtype == AlterTableType.AT_AddConstraint and isinstance(definition, ast.Constraint):
        yield definition, True
    elif cmd.subtype == AlterTableType.AT_AddColumn and isinstance(definition, ast.ColumnDef):
        constraints = definition.constraints or ()
        has_default = definition.raw_default is not None or any(
            isinstance(c, ast.Constraint) and c.contype == ConstrType.CONSTR_DEFAULT
            for c in constraints
        )
        for constraint in constraints:
            if isinstance(constraint, ast.Constraint):
                yield constraint, has_default


@rule.on_sql(ast.AlterTableStmt)
def check_sql(ctx: SqlContext, stmt: ast.AlterTableStmt) -> Iterator[Finding]:
    if stmt.relation is None:
        return
    table = str(stmt.relation.relname)
    if ctx.is_new_table(table):
        return
    for cmd in stmt.cmds or ():
        if not isinstance(cmd, ast.AlterTableCmd):
            continue
        for constraint, scans in _constraints_of(cmd):
            if constraint.contype != ConstrType.CONSTR_FOREIGN or constraint.skip_validation:
                continue
            target = str(constraint.pktable.relname) if constraint.pktable else "?"
            column = ", ".join(str(a.sval) for a in constraint.fk_attrs or ()) or (
                str(cmd.def_.colname) if isinstance(cmd.def_, ast.ColumnDef) else "?")
            if cmd.subtype == AlterTableType.AT_AddConstraint:
                holding = f"SHARE ROW EXCLUSIVE on {table} and {target}"
                lock = ctx.lock(DDL.ADD_FOREIGN_KEY, table)
            else:
                holding = f"ACCESS EXCLUSIVE on {table} and SHARE ROW EXCLUSIVE on {target}"
                lock = dataclasses.replace(ctx.lock(DDL.ADD_COLUMN, table), scans=scans)
            if scans:
                message = _scanning_message(table, column, target, holding)
            elif not ctx.in_transaction:
                continue  # committed at once, no row checked: the locks are brief
            else:
                message = (f"Adding foreign key {column} to {table} holds {holding} (blocking"
                           f" writes to {target}) until the migration commits.")
            yield Finding(message=message, hint=SQL_HINT, lock=lock)
