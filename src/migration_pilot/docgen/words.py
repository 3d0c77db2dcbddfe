"""Plain words for what an operation changes, how it is undone, and what to check afterwards.

Written from the rendered models before and after the operation, with the
column types the target database really gets (`field.db_type()` on the
offline backend, `VARCHAR(100)` rather than `CharField`), and the table,
column, index and constraint names Django uses, so each check can be run
against the database as written.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db import migrations as dj
from django.db import models
from django.db.migrations.state import ProjectState

from migration_pilot.backends.column_types import data_types


@dataclass(slots=True)
class Said:
    """The three lists a migration page is made of, for one operation."""

    changes: list[str] = field(default_factory=list)
    rollback: list[str] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)
    gone: list[str] = field(default_factory=list)
    """Subjects ('Column `t`.`c`', 'Table `t`', 'Index `i`') that stop existing: earlier checks on them go."""


def callable_name(code: Callable[..., Any]) -> str:
    """`module.function` of a RunPython callable, '(no-op)' for RunPython.noop."""
    if code is dj.RunPython.noop:
        return "no-op"
    module = getattr(code, "__module__", "") or ""
    name = getattr(code, "__qualname__", None) or getattr(code, "__name__", None) or type(code).__name__
    return f"{module.rsplit('.', 1)[-1]}.{name}" if module else str(name)


def column_type(fld: Any, connection: Any, vendor: str) -> str | None:
    """The column type `fld` gets on the target database ('VARCHAR(100)'), None for no column."""
    db_type = None
    if connection is not None:
        try:
            db_type = fld.db_type(connection)
        except Exception:  # a custom field that needs more than the offline backend: say what we can
            db_type = None
    if db_type is None and connection is None:
        db_type = _type_from_table(fld, vendor)
    return str(db_type).upper() if db_type else None


def _type_from_table(fld: Any, vendor: str) -> str | None:
    """Without the vendor's driver: Django's own type table, read from its source (backends/column_types)."""
    table = data_types("mysql" if vendor == "mariadb" else vendor) or {}
    target = fld.target_field if getattr(fld, "remote_field", None) is not None and fld.many_to_one else fld
    internal = target.get_internal_type()
    internal = {"AutoField": "IntegerField", "BigAutoField": "BigIntegerField",
                "SmallAutoField": "SmallIntegerField"}.get(internal, internal) if target is not fld else internal
    template = table.get(internal)
    if template is None:
        return None
    params = {k: v for k, v in vars(target).items() if not k.startswith("_")}
    try:
        return str(template(params) if callable(template) else template % params)
    except Exception:  # a template needing more than the field's attributes
        return None


def _model(state: ProjectState, app_label: str, name: str) -> Any:
    try:
        return state.apps.get_model(app_label, name)
    except LookupError:
        return None


def _field(model: Any, name: str) -> Any:
    if model is None:
        return None
    try:
        return model._meta.get_field(name)
    except Exception:  # FieldDoesNotExist
        return None


def _column(fld: Any, connection: Any, vendor: str) -> str:
    kind = column_type(fld, connection, vendor) or "(type unknown offline)"
    nullness = "NULL" if fld.null else "NOT NULL"
    extra = " PRIMARY KEY" if fld.primary_key else (" UNIQUE" if fld.unique else "")
    return f"`{fld.column}` {kind} {nullness}{extra}"


def _columns_of(model: Any, names: Any) -> str:
    cols = []
    for name in names:
        fld = _field(model, str(name).lstrip("-"))
        cols.append(f"`{fld.column}`" if fld is not None and getattr(fld, "column", None) else f"`{name}`")
    return ", ".join(cols)


def _table(model: Any, fallback: str) -> str:
    return f"`{model._meta.db_table}`" if model is not None else f"(model {fallback})"


def describe(operation: Any, app_label: str, before: ProjectState, after: ProjectState,
             connection: Any, vendor: str) -> Said:
    """Changes, rollback and checks for `operation` between the two (rendered) states."""
    handler = _HANDLERS.get(type(operation))
    if handler is None:
        for kind, candidate in _HANDLERS.items():
            if isinstance(operation, kind):
                handler = candidate
                break
    try:
        if handler is not None:
            return handler(operation, app_label, before, after, connection, vendor)
    except Exception:  # an odd model we cannot render: fall back to Django's own sentence
        pass
    return _generic(operation)


def _describe(operation: Any) -> str:
    try:
        return str(operation.describe())
    except Exception:  # a custom operation's describe() must not stop the docs
        return type(operation).__name__


def _generic(operation: Any) -> Said:
    text = _describe(operation)
    reversible = bool(getattr(operation, "reversible", True))
    return Said([text], [f"Undo: {text}" if reversible else f"Cannot be undone: {text}"], [])


def _create_model(op: Any, app: str, before: ProjectState, after: ProjectState, conn: Any, vendor: str) -> Said:
    model = _model(after, app, op.name)
    table = _table(model, op.name)
    concrete = [f for f in model._meta.local_fields if f.column]
    said = Said([f"Create table {table} (model {model.__name__}) with columns "
                 + ", ".join(_column(f, conn, vendor) for f in concrete)],
                [f"Drop table {table} and every row in it"],
                [f"Table {table} exists with columns " + ", ".join(f"`{f.column}`" for f in concrete)])
    for m2m in model._meta.local_many_to_many:
        through = m2m.remote_field.through
        if through._meta.auto_created:
            said.changes.append(f"Create table `{through._meta.db_table}` for many-to-many field {m2m.name}")
            said.checks.append(f"Table `{through._meta.db_table}` exists")
    for index in model._meta.indexes:
        said.checks.append(f"Index `{index.name}` exists on {table}")
    for constraint in model._meta.constraints:
        said.checks.append(f"Constraint `{constraint.name}` exists on {table}")
    return said


def _delete_model(op: Any, app: str, before: ProjectState, after: ProjectState, conn: Any, vendor: str) -> Said:
    table = _table(_model(before, app, op.name), op.name)
    return Said([f"Drop table {table} (model {op.name}) and every row in it"],
                [f"Re-create table {table}, empty (the dropped rows are not restored)"],
                [f"Table {table} no longer exists"], [f"Table {table}"])


def _field_facts(fld: Any, conn: Any, vendor: str) -> list[str]:
    facts = []
    if fld.many_to_one and fld.remote_field is not None and fld.db_constraint:
        target = fld.target_field
        facts.append(f"foreign key to `{target.model._meta.db_table}`.`{target.column}`")
    if fld.unique and not fld.primary_key:
        facts.append("unique")
    elif fld.db_index:
        facts.append("indexed")
    return facts


def _add_field(op: Any, app: str, before: ProjectState, after: ProjectState, conn: Any, vendor: str) -> Said:
    model = _model(after, app, op.model_name)
    fld = _field(model, op.name)
    table = _table(model, op.model_name)
    if fld.many_to_many:
        through = fld.remote_field.through._meta.db_table
        return Said([f"Create table `{through}` for many-to-many field {model.__name__}.{fld.name}"],
                    [f"Drop table `{through}`"], [f"Table `{through}` exists"])
    facts = _field_facts(fld, conn, vendor)
    default = ""
    if fld.has_default() and not fld.null and not callable(fld.default):
        default = f"; existing rows get {fld.default!r}"
    elif fld.has_default() and not fld.null:
        default = f"; existing rows get the value of {callable_name(fld.default)}()"
    extra = f" ({', '.join(facts)})" if facts else ""
    checks = [f"Column {table}.`{fld.column}` exists as {_column(fld, conn, vendor).split(' ', 1)[1]}"]
    checks += [f"Column {table}.`{fld.column}` is {fact}" for fact in facts]
    return Said([f"Add column {_column(fld, conn, vendor)} to {table}{extra}{default}"],
                [f"Drop column `{fld.column}` from {table} (its values are lost)"], checks)


def _remove_field(op: Any, app: str, before: ProjectState, after: ProjectState, conn: Any, vendor: str) -> Said:
    model = _model(before, app, op.model_name)
    fld = _field(model, op.name)
    table = _table(model, op.model_name)
    if fld.many_to_many:
        through = fld.remote_field.through._meta.db_table
        return Said([f"Drop table `{through}` (many-to-many field {op.name}) and its rows"],
                    [f"Re-create table `{through}`, empty"], [f"Table `{through}` no longer exists"])
    return Said([f"Drop column `{fld.column}` from {table} (its values are lost)"],
                [f"Re-add column {_column(fld, conn, vendor)} to {table} (the dropped values are not restored)"],
                [f"Column {table}.`{fld.column}` no longer exists"], [f"Column {table}.`{fld.column}`"])


def _alter_field(op: Any, app: str, before: ProjectState, after: ProjectState, conn: Any, vendor: str) -> Said:
    old_model, new_model = _model(before, app, op.model_name), _model(after, app, op.model_name)
    old, new = _field(old_model, op.name), _field(new_model, op.name)
    table = _table(new_model, op.model_name)
    if new.many_to_many or old.many_to_many:
        return _generic(op)
    old_type, new_type = column_type(old, conn, vendor), column_type(new, conn, vendor)
    parts, undo = [], []
    if old.column != new.column:
        parts.append(f"rename to `{new.column}`")
        undo.append(f"rename back to `{old.column}`")
    if old_type != new_type:
        parts.append(f"type {old_type} -> {new_type}")
        undo.append(f"type back to {old_type}")
    if old.null != new.null:
        parts.append("drop NOT NULL" if new.null else "set NOT NULL")
        undo.append("set NOT NULL" if new.null else "drop NOT NULL")
    for fact in sorted(set(_field_facts(new, conn, vendor)) - set(_field_facts(old, conn, vendor))):
        parts.append(f"add {fact}")
        undo.append(f"remove {fact}")
    for fact in sorted(set(_field_facts(old, conn, vendor)) - set(_field_facts(new, conn, vendor))):
        parts.append(f"remove {fact}")
        undo.append(f"add {fact} back")
    if not parts:
        return Said([f"Alter field {new_model.__name__}.{new.name}: no change to column {table}.`{new.column}`"
                     " (only Django-side attributes change)"], ["Nothing to undo in the database"],
                    [f"Column {table}.`{new.column}` is {_column(new, conn, vendor).split(' ', 1)[1]}"])
    return Said([f"Alter column {table}.`{old.column}`: " + "; ".join(parts)],
                [f"Alter column {table}.`{new.column}` back: " + "; ".join(undo)],
                [f"Column {table}.`{new.column}` is {_column(new, conn, vendor).split(' ', 1)[1]}"],
                [f"Column {table}.`{old.column}`"] if old.column != new.column else [])


def _rename_field(op: Any, app: str, before: ProjectState, after: ProjectState, conn: Any, vendor: str) -> Said:
    old = _field(_model(before, app, op.model_name), op.old_name)
    model = _model(after, app, op.model_name)
    new = _field(model, op.new_name)
    table = _table(model, op.model_name)
    if old.column == new.column:
        return Said([f"Rename field {op.old_name} to {op.new_name}: column {table}.`{new.column}` keeps its name"],
                    ["Nothing to undo in the database"], [f"Column {table}.`{new.column}` exists"])
    return Said([f"Rename column {table}.`{old.column}` to `{new.column}`"],
                [f"Rename column {table}.`{new.column}` back to `{old.column}`"],
                [f"Column {table}.`{new.column}` exists and `{old.column}` does not"],
                [f"Column {table}.`{old.column}`"])


def _rename_table(op: Any, app: str, before: ProjectState, after: ProjectState, conn: Any, vendor: str) -> Said:
    name = getattr(op, "old_name", None) or op.name
    new_name = getattr(op, "new_name", None) or op.name
    old_table = _table(_model(before, app, name), name)
    new_table = _table(_model(after, app, new_name), new_name)
    if old_table == new_table:
        return Said([f"{_describe(op)}: table {new_table} keeps its name"], ["Nothing to undo in the database"],
                    [f"Table {new_table} exists"])
    return Said([f"Rename table {old_table} to {new_table}"], [f"Rename table {new_table} back to {old_table}"],
                [f"Table {new_table} exists and {old_table} does not"], [f"Table {old_table}"])


def _add_index(op: Any, app: str, before: ProjectState, after: ProjectState, conn: Any, vendor: str) -> Said:
    model = _model(after, app, op.model_name)
    table = _table(model, op.model_name)
    index = op.index
    what = f"({_columns_of(model, index.fields)})" if index.fields else "(expressions)"
    unique = "unique " if getattr(op, "_unique", False) else ""
    return Said([f"Create {unique}index `{index.name}` on {table} {what}"],
                [f"Drop index `{index.name}`"], [f"Index `{index.name}` exists on {table}"])


def _remove_index(op: Any, app: str, before: ProjectState, after: ProjectState, conn: Any, vendor: str) -> Said:
    model = _model(before, app, op.model_name)
    table = _table(model, op.model_name)
    return Said([f"Drop index `{op.name}` from {table}"], [f"Re-create index `{op.name}` on {table}"],
                [f"Index `{op.name}` no longer exists on {table}"], [f"Index `{op.name}`"])


def _rename_index(op: Any, app: str, before: ProjectState, after: ProjectState, conn: Any, vendor: str) -> Said:
    table = _table(_model(after, app, op.model_name), op.model_name)
    old = f"`{op.old_name}`" if op.old_name else f"the index on ({', '.join(op.old_fields)})"
    return Said([f"Rename index {old} on {table} to `{op.new_name}`"],
                [f"Rename index `{op.new_name}` back to {old}"], [f"Index `{op.new_name}` exists on {table}"])


def _constraint_kind(constraint: Any) -> str:
    if isinstance(constraint, models.CheckConstraint):
        return "check constraint"
    if isinstance(constraint, models.UniqueConstraint):
        return "unique constraint"
    return "constraint"


def _add_constraint(op: Any, app: str, before: ProjectState, after: ProjectState, conn: Any, vendor: str) -> Said:
    model = _model(after, app, op.model_name)
    table = _table(model, op.model_name)
    constraint = op.constraint
    fields = getattr(constraint, "fields", ())
    on = f" ({_columns_of(model, fields)})" if fields else ""
    return Said([f"Add {_constraint_kind(constraint)} `{constraint.name}` to {table}{on}"],
                [f"Drop constraint `{constraint.name}` from {table}"],
                [f"Constraint `{constraint.name}` exists on {table}"])


def _remove_constraint(op: Any, app: str, before: ProjectState, after: ProjectState, conn: Any,
                       vendor: str) -> Said:
    table = _table(_model(before, app, op.model_name), op.model_name)
    return Said([f"Drop constraint `{op.name}` from {table}"], [f"Re-add constraint `{op.name}` to {table}"],
                [f"Constraint `{op.name}` no longer exists on {table}"], [f"Constraint `{op.name}`"])


def _together(op: Any, app: str, before: ProjectState, after: ProjectState, conn: Any, vendor: str) -> Said:
    model = _model(after, app, op.name)
    table = _table(model, op.name)
    what = "unique constraint" if isinstance(op, dj.AlterUniqueTogether) else "index"
    sets = sorted(tuple(s) for s in (op.option_value or ()))
    old_model = _model(before, app, op.name)
    old_sets = sorted(tuple(s) for s in (getattr(old_model._meta, op.option_name, ()) or ()))
    added = [s for s in sets if s not in old_sets]
    removed = [s for s in old_sets if s not in sets]
    said = Said()
    for fields in added:
        said.changes.append(f"Add a {what} on {table} ({_columns_of(model, fields)})")
        said.rollback.append(f"Drop the {what} on {table} ({_columns_of(model, fields)})")
        said.checks.append(f"A {what} on {table} ({_columns_of(model, fields)}) exists")
    for fields in removed:
        said.changes.append(f"Drop the {what} on {table} ({_columns_of(old_model, fields)})")
        said.rollback.append(f"Re-add the {what} on {table} ({_columns_of(old_model, fields)})")
        said.checks.append(f"No {what} on {table} ({_columns_of(old_model, fields)}) remains")
    return said if said.changes else _state_only(op)


def _state_only(op: Any) -> Said:
    return Said([f"{_describe(op)}: no database change (Django state only)"], ["Nothing to undo in the database"],
                [])


def _run_sql(op: Any, app: str, before: ProjectState, after: ProjectState, conn: Any, vendor: str) -> Said:
    statements = op.sql if isinstance(op.sql, list | tuple) else [op.sql]
    said = Said([f"Run raw SQL ({len(statements)} statement{'s' if len(statements) != 1 else ''}, below)"])
    if op.reverse_sql is None:
        said.rollback.append("Cannot be undone: RunSQL has no reverse_sql")
    elif op.reverse_sql == dj.RunSQL.noop or op.reverse_sql == "":
        said.rollback.append("Nothing: the reverse is a no-op (the SQL's effect stays)")
    else:
        said.rollback.append("Run the reverse SQL (below)")
    said.checks.append("Check the raw SQL's effect by hand: migration_pilot cannot read what it changes")
    return said


def _run_python(op: Any, app: str, before: ProjectState, after: ProjectState, conn: Any, vendor: str) -> Said:
    said = Said([f"Run Python function {callable_name(op.code)} (data changes; no schema change)"])
    if op.reverse_code is None:
        said.rollback.append("Cannot be undone: RunPython has no reverse_code")
    elif op.reverse_code is dj.RunPython.noop:
        said.rollback.append("Nothing: the reverse is a no-op (the data changes stay)")
    else:
        said.rollback.append(f"Run Python function {callable_name(op.reverse_code)}")
    said.checks.append(f"Check the rows {callable_name(op.code)} writes")
    return said


def _separate(op: Any, app: str, before: ProjectState, after: ProjectState, conn: Any, vendor: str) -> Said:
    said = Said()
    for inner in op.database_operations:
        said.changes.append(f"Database only: {_describe(inner)}")
        said.rollback.append(f"Undo in the database: {_describe(inner)}")
    for inner in op.state_operations:
        said.changes.append(f"Django state only: {_describe(inner)}")
    return said if said.changes else _state_only(op)


def _options(op: Any, app: str, before: ProjectState, after: ProjectState, conn: Any, vendor: str) -> Said:
    return _state_only(op)


_Handler = Callable[[Any, str, ProjectState, ProjectState, Any, str], Said]
_HANDLERS: dict[type, _Handler] = {
    dj.CreateModel: _create_model,
    dj.DeleteModel: _delete_model,
    dj.AddField: _add_field,
    dj.RemoveField: _remove_field,
    dj.AlterField: _alter_field,
    dj.RenameField: _rename_field,
    dj.RenameModel: _rename_table,
    dj.AlterModelTable: _rename_table,
    dj.AddIndex: _add_index,
    dj.RemoveIndex: _remove_index,
    dj.RenameIndex: _rename_index,
    dj.AddConstraint: _add_constraint,
    dj.RemoveConstraint: _remove_constraint,
    dj.AlterUniqueTogether: _together,
    dj.AlterIndexTogether: _together,
    dj.RunSQL: _run_sql,
    dj.RunPython: _run_python,
    dj.SeparateDatabaseAndState: _separate,
    dj.AlterModelOptions: _options,
    dj.AlterModelManagers: _options,
}
