"""SQL for safe alternatives, written by Django's own PostgreSQL schema editor, offline.

A fix is copied into a migration as it is, so it must do exactly what the
original operation did: the same index names, the same `varchar_pattern_ops`
twin Django adds for text columns, the same columns. Instead of spelling that
SQL ourselves, the models the operation meets are rendered (only the model and
what it refers to, not the whole project) and Django's schema editor writes
the statements in collect-SQL mode. Nothing connects; when the PostgreSQL
backend cannot be imported (no psycopg) or the models cannot be rendered, the
answer is None and the finding carries no fix rather than a guessed one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.migrations.state import ProjectState

from migration_pilot.analysis.schema import related_model_key
from migration_pilot.types import ModelKey


@dataclass(frozen=True, slots=True)
class IndexSql:
    """One index Django builds for a field, as a concurrent build and its undo."""

    name: str
    create_concurrently: str
    drop_concurrently: str


@dataclass(frozen=True, slots=True)
class ForeignKeySql:
    """Django's foreign-key constraint for a field, added NOT VALID, and its undo."""

    name: str
    add_not_valid: str
    drop: str
    validate: str


def field_indexes_after(state: ProjectState, app_label: str, operation: Any,
                        model_name: str, field_name: str) -> list[IndexSql] | None:
    """The indexes Django's PostgreSQL schema editor creates for a field's `db_index`.

    `state` is the state before `operation` (an AddField or AlterField); the
    field is taken as the operation leaves it. `state` is not changed. Returns
    None when the SQL cannot be produced offline.
    """
    rendered = _rendered_after(state, app_label, operation, model_name, field_name)
    if rendered is None:
        return None
    editor, model, field = rendered
    try:
        statements = [str(s) for s in editor._field_indexes_sql(model, field)]
    except Exception:  # Django could not write it offline: no fix rather than a guessed one
        return None
    found = []
    for statement in statements:
        index = _concurrent(statement)
        if index is None:
            return None
        found.append(index)
    return found


def field_foreign_key_after(state: ProjectState, app_label: str, operation: Any,
                            model_name: str, field_name: str) -> ForeignKeySql | None:
    """The foreign-key constraint Django's PostgreSQL schema editor adds for the field."""
    rendered = _rendered_after(state, app_label, operation, model_name, field_name)
    if rendered is None:
        return None
    editor, model, field = rendered
    try:
        statement = editor._create_fk_sql(model, field, "_fk_%(to_table)s_%(to_column)s")
        name = str(statement.parts["name"]).strip('"')
        add = str(statement)
        table = editor.quote_name(model._meta.db_table)
    except Exception:  # Django could not write it offline: no fix rather than a guessed one
        return None
    quoted = editor.quote_name(name)
    return ForeignKeySql(name, f"{add} NOT VALID", f"ALTER TABLE {table} DROP CONSTRAINT {quoted}",
                         f"ALTER TABLE {table} VALIDATE CONSTRAINT {quoted}")


def constraint_index_after(state: ProjectState, app_label: str, operation: Any,
                           model_name: str) -> IndexSql | None:
    """An index-backed UniqueConstraint (condition, expressions, include, opclasses) as Django
    creates it, built concurrently; None when Django adds it another way or offline fails."""
    editor = _editor()
    key = (app_label, model_name.lower())
    wanted = _closure(state, [key]) if editor is not None else None
    if wanted is None:
        return None
    subset = ProjectState(models={k: state.models[k].clone() for k in wanted},
                          real_apps=state.real_apps)
    try:
        operation.state_forwards(app_label, subset)
        model = subset.apps.get_model(*key)
        statement = str(operation.constraint.create_sql(model, editor))
    except Exception:  # Django could not write it offline: no fix rather than a guessed one
        return None
    prefix = "CREATE UNIQUE INDEX "
    if not statement.startswith(prefix):
        return None
    index = _concurrent("CREATE INDEX " + statement[len(prefix):])
    if index is None:
        return None
    create = "CREATE UNIQUE INDEX CONCURRENTLY " + index.create_concurrently[
        len("CREATE INDEX CONCURRENTLY "):]
    return IndexSql(index.name, create, index.drop_concurrently)


def _rendered_after(state: ProjectState, app_label: str, operation: Any, model_name: str,
                    field_name: str) -> tuple[Any, Any, Any] | None:
    """(schema editor, rendered model, field) as `operation` leaves them, or None."""
    editor = _editor()
    if editor is None:
        return None
    key = (app_label, model_name.lower())
    wanted = _closure(state, [key, *_targets(getattr(operation, "field", None), app_label)])
    if wanted is None:
        return None
    subset = ProjectState(models={k: state.models[k].clone() for k in wanted},
                          real_apps=state.real_apps)
    try:
        operation.state_forwards(app_label, subset)
        model = subset.apps.get_model(*key)
        return editor, model, model._meta.get_field(field_name)
    except Exception:  # a reference we could not follow: no fix
        return None


def _targets(field: Any, app_label: str) -> list[ModelKey]:
    target = related_model_key(field, app_label) if field is not None else None
    return [target] if target is not None else []


def _concurrent(statement: str) -> IndexSql | None:
    """Django's CREATE INDEX as CREATE INDEX CONCURRENTLY, checked with PostgreSQL's parser."""
    from pglast import ast, parse_sql

    prefix = "CREATE INDEX "
    if not statement.startswith(prefix):
        return None
    concurrent = "CREATE INDEX CONCURRENTLY " + statement[len(prefix):]
    try:
        (raw,) = parse_sql(concurrent)
    except Exception:  # not a statement we understand: no fix
        return None
    node = raw.stmt
    if not isinstance(node, ast.IndexStmt) or not node.concurrent or not node.idxname:
        return None
    name = str(node.idxname)
    quoted = '"' + name.replace('"', '""') + '"'
    return IndexSql(name, concurrent, f"DROP INDEX CONCURRENTLY IF EXISTS {quoted}")


def _editor() -> Any:
    try:
        from django.db.backends.postgresql.base import DatabaseWrapper
    except Exception:  # psycopg is not installed: no PostgreSQL SQL can be written here
        return None
    connection = DatabaseWrapper({"ENGINE": "django.db.backends.postgresql", "NAME": "offline",
                                  "USER": "", "PASSWORD": "", "HOST": "", "PORT": "",
                                  "OPTIONS": {}, "TIME_ZONE": None, "CONN_MAX_AGE": 0,
                                  "CONN_HEALTH_CHECKS": False, "AUTOCOMMIT": True,
                                  "ATOMIC_REQUESTS": False, "TEST": {}},
                                 alias="migration_pilot_offline")
    return connection.schema_editor(collect_sql=True, atomic=False)


def _closure(state: ProjectState, start: list[ModelKey]) -> set[ModelKey] | None:
    """`start` plus every model their fields, bases and through tables refer to, transitively.

    Rendering only these models (not the whole project) keeps a fix cheap on
    projects with hundreds of models.
    """
    seen: set[ModelKey] = set()
    todo = list(start)
    while todo:
        key = todo.pop()
        if key in seen:
            continue
        model = state.models.get(key)
        if model is None:
            if key[0] in state.real_apps:
                continue
            return None
        seen.add(key)
        for field in model.fields.values():
            target = related_model_key(field, key[0])
            if target is not None:
                todo.append(target)
            through = getattr(getattr(field, "remote_field", None), "through", None)
            if isinstance(through, str) and "." in through:
                app, name = through.split(".", 1)
                todo.append((app, name.lower()))
        for base in model.bases:
            if isinstance(base, str) and "." in base:
                app, name = base.split(".", 1)
                todo.append((app, name.lower()))
    return seen
