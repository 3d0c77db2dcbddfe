"""Whether an operation makes the schema editor emit any SQL, judged from the state alone.

Rules that weigh "schema changes" (a migration mixing schema and data, a lock
held for a data step) must not count operations that Django runs as no-ops:
an AlterField that only changes choices, help_text, verbose_name or
validators; a RenameField whose db_column keeps the column; anything on an
unmanaged or proxy model. `sqlmigrate` prints nothing for them.

This follows Django's own test, `BaseDatabaseSchemaEditor._field_should_be_altered`,
including each field class's `non_db_attrs`, but reads the related tables
from the ProjectState instead of rendered models, and never connects. When in
doubt it answers True (SQL is emitted): a no-op wrongly counted as schema
gives the old, louder finding, never a silent one.
"""

from __future__ import annotations

from typing import Any

from django.db import migrations
from django.db.migrations.state import ModelState, ProjectState
from django.db.models import Field

from migration_pilot.analysis.schema import column_of, find_model, related_model_key, table_of

_MODEL_OPTION_OPERATIONS: tuple[type, ...] = (
    migrations.AlterModelOptions,
    migrations.AlterModelManagers,
)


def emits_sql(operation: Any, kind: type | None, app_label: str, state: ProjectState,
              max_name_length: int, vendor: str = "unknown") -> bool:
    """False only when Django's schema editor certainly emits nothing for `operation`.

    `state` is the project state before the operation; `kind` its effective type.
    """
    if kind is None:
        return True
    if issubclass(kind, _MODEL_OPTION_OPERATIONS):
        return False
    model_name = getattr(operation, "model_name", None) or getattr(operation, "name", None)
    if issubclass(kind, migrations.CreateModel):
        options = getattr(operation, "options", {}) or {}
        return bool(options.get("managed", True)) and not options.get("proxy", False)
    model = find_model(state, app_label, model_name) if isinstance(model_name, str) else None
    if model is None:
        return True
    if not model.options.get("managed", True) or model.options.get("proxy", False):
        return False
    if kind is migrations.AlterField:
        old = model.fields.get(operation.name_lower) or model.fields.get(operation.name)
        if old is None:
            return True
        if not field_should_be_altered(state, app_label, model, operation.name, old,
                                       operation.name, operation.field, max_name_length):
            return False
        before = column_signature(state, app_label, model, operation.name, old, max_name_length,
                                  vendor)
        after = column_signature(state, app_label, model, operation.name, operation.field,
                                 max_name_length, vendor)
        return before is None or after is None or before != after
    if kind is migrations.RenameField:
        old = model.fields.get(operation.old_name_lower) or model.fields.get(operation.old_name)
        if old is None:
            return True
        return column_of(operation.old_name, old) != column_of(operation.new_name, old)
    if kind is migrations.AlterModelTable:
        return table_of(model, max_name_length) != (
            operation.table or f"{app_label}_{model.name_lower}")
    return True


def field_should_be_altered(state: ProjectState, app_label: str, model: ModelState,
                            old_name: str, old: Field, new_name: str, new: Field,
                            max_name_length: int) -> bool:
    """Django's `_field_should_be_altered` for unrendered model-state fields."""
    if getattr(old, "many_to_many", False) or getattr(new, "many_to_many", False):
        return True  # through tables: left to Django, assumed to change
    old_column, new_column = column_of(old_name, old), column_of(new_name, new)
    if old_column is None and new_column is None:
        return False
    _, old_path, old_args, old_kwargs = old.deconstruct()
    _, new_path, new_args, new_kwargs = new.deconstruct()
    for attr in getattr(old, "non_db_attrs", ()):
        old_kwargs.pop(attr, None)
    for attr in getattr(new, "non_db_attrs", ()):
        new_kwargs.pop(attr, None)
    if getattr(old, "remote_field", None) is not None and getattr(new, "remote_field", None) is not None:
        old_table = _target_table(state, app_label, model, old, max_name_length)
        if old_table is not None and old_table == _target_table(
                state, app_label, model, new, max_name_length):
            old_kwargs.pop("to", None)
            new_kwargs.pop("to", None)
    return old_column != new_column or (old_path, old_args, old_kwargs) != (
        new_path, new_args, new_kwargs)


def column_signature(state: ProjectState, app_label: str, model: ModelState, name: str,
                     field: Field, max_name_length: int, vendor: str) -> tuple[Any, ...] | None:
    """Everything about a column Django's `_alter_field` writes SQL for, or None if unknown.

    Two fields with the same signature make Django's schema editor emit
    nothing (a JSONField's encoder, a Python-side default, EmailField to
    CharField). The internal type stands in for the type checks Django adds
    (PositiveIntegerField); unknown column types count as different.
    """
    from migration_pilot.backends.column_types import data_types

    types = data_types(vendor)
    internal = field.get_internal_type()
    if field.is_relation:
        type_text: Any = ("relation", _target_table(state, app_label, model, field, max_name_length),
                          getattr(field.remote_field, "field_name", None),
                          getattr(field, "db_constraint", True))
    elif types is None or internal not in types:
        return None
    else:
        template = types[internal]
        params = {k: getattr(field, k, None) for k in ("max_length", "max_digits",
                                                      "decimal_places")}
        try:
            type_text = template(params) if callable(template) else template % params
        except (KeyError, TypeError, ValueError):
            return None
    indexed = bool(getattr(field, "db_index", False) and not getattr(field, "unique", False))
    db_default = field.db_default if field.has_db_default() else None
    return (column_of(name, field), internal, type_text, field.null, bool(field.unique), indexed,
            bool(field.primary_key), repr(db_default), getattr(field, "db_comment", None),
            getattr(field, "db_collation", None), getattr(field, "db_tablespace", None))


def _target_table(state: ProjectState, app_label: str, model: ModelState, field: Field,
                  max_name_length: int) -> str | None:
    remote: Any = getattr(field, "remote_field", None)
    if remote is not None and remote.model == "self":
        return table_of(model, max_name_length)
    key = related_model_key(field, app_label)
    target = state.models.get(key) if key is not None else None
    return table_of(target, max_name_length) if target is not None else None
