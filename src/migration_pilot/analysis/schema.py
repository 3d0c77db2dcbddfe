"""Table and column names from ProjectState model states, without rendering models.

Rendering (`state.apps`) is what makes naive linters quadratic; these helpers
read the same facts straight from ModelState, the way Django's Options would
compute them.
"""

from __future__ import annotations

from typing import Any

from django.db.migrations.state import ModelState, ProjectState
from django.db.models import Field

from migration_pilot.types import ModelKey


def default_table_name(app_label: str, model_name: str, max_length: int) -> str:
    """Django's default `app_model` table name, truncated as `truncate_name` would."""
    from django.db.backends.utils import truncate_name

    return str(truncate_name(f"{app_label}_{model_name.lower()}", max_length))


def table_of(model: ModelState, max_length: int) -> str:
    """The db_table a model state maps to."""
    explicit = model.options.get("db_table")
    if explicit:
        return str(explicit)
    return default_table_name(model.app_label, model.name_lower, max_length)


def column_of(name: str, field: Field) -> str | None:
    """Column of `field` called `name` in its model; None for fields with no column (M2M)."""
    if getattr(field, "many_to_many", False) or not getattr(field, "concrete", True):
        return None
    db_column = getattr(field, "db_column", None)
    if db_column:
        return str(db_column)
    if getattr(field, "many_to_one", False) or getattr(field, "one_to_one", False):
        return f"{name}_id"
    return name


def find_model(state: ProjectState, app_label: str, model_name: str) -> ModelState | None:
    """The model state for `model_name` (any case) in `app_label`, or None."""
    key: ModelKey = (app_label, model_name.lower())
    model = state.models.get(key)
    return model  # type: ignore[no-any-return]


def related_model_key(field: Field, app_label: str) -> ModelKey | None:
    """Key of the model a relation field points at, resolving 'app.Model' and 'Model' forms."""
    remote: Any = getattr(field, "remote_field", None)
    if remote is None:
        return None
    target = remote.model
    if isinstance(target, str):
        if target == "self":
            return None
        if "." in target:
            app, name = target.split(".", 1)
            return (app, name.lower())
        return (app_label, target.lower())
    meta = getattr(target, "_meta", None)
    if meta is None:
        return None
    return (meta.app_label, meta.model_name)


def tables_by_name(state: ProjectState, max_length: int) -> dict[str, ModelState]:
    """Map of table name to model state, for matching raw SQL against the models."""
    return {table_of(model, max_length): model for model in state.models.values()}


def columns_of(model: ModelState) -> dict[str, str]:
    """Map of column name to field name for a model state."""
    result: dict[str, str] = {}
    for name, field in model.fields.items():
        column = column_of(name, field)
        if column is not None:
            result[column] = name
    return result
