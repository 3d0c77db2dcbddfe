"""Zero-downtime operations: Django's own operations, run in their online form on PostgreSQL.

`pilot deploy` already runs plain operations online. These classes make a
migration online by itself, under plain `manage.py migrate` too: each is the
Django operation it names (same arguments, same state changes, so
`makemigrations` sees no difference afterwards), whose SQL goes through the
same online form (migration_pilot.online):

- AddIndexOnline, RemoveIndexOnline: CREATE/DROP INDEX CONCURRENTLY, every index kind
  (unique, partial, expression, covering);
- AddConstraintOnline: CHECK and FOREIGN KEY NOT VALID then VALIDATE; UNIQUE through a
  concurrent unique index attached with USING INDEX;
- AddFieldOnline: its foreign key and index as above (under `pilot deploy`, a NOT NULL
  column's database default is also kept for the code still running);
- AlterFieldOnline: SET NOT NULL through a validated CHECK, unique and indexes concurrently,
  integer widening by an online swap.

They run outside a transaction (put them in a migration with `atomic = False`;
inside one they refuse with that fix) and are idempotent: a migration that
stopped half-way can simply be run again. On SQLite and MySQL/MariaDB, where
the plain form is already what the database offers, they run as the plain
operation.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from django.db import NotSupportedError
from django.db.migrations import operations

# duplicate_table (also "relation already exists"), duplicate_object, duplicate_column
ALREADY_THERE = frozenset({"42P07", "42710", "42701"})


class _Online:
    """Runs the plain operation's statements through the online editor (PostgreSQL)."""

    def database_forwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        with _online_editor(schema_editor, self) as editor:
            super().database_forwards(app_label, editor, from_state, to_state)  # type: ignore[misc]

    def database_backwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        with _online_editor(schema_editor, self) as editor:
            super().database_backwards(app_label, editor, from_state, to_state)  # type: ignore[misc]

    def describe(self) -> str:
        return f"{super().describe()} online"  # type: ignore[misc]


class AddIndexOnline(_Online, operations.AddIndex):
    """AddIndex, built CONCURRENTLY on PostgreSQL."""


class RemoveIndexOnline(_Online, operations.RemoveIndex):
    """RemoveIndex, dropped CONCURRENTLY on PostgreSQL."""

    def database_forwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        if schema_editor.connection.vendor != "postgresql":
            return super().database_forwards(app_label, schema_editor, from_state, to_state)
        _refuse_in_transaction(schema_editor, self)
        model = from_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            index = from_state.models[app_label, self.model_name_lower].get_index_by_name(self.name)
            schema_editor.remove_index(model, index, concurrently=True)
        return None


class AddConstraintOnline(_Online, operations.AddConstraint):
    """AddConstraint: CHECK/FOREIGN KEY validated after a NOT VALID add, UNIQUE via a concurrent index."""


class AddFieldOnline(_Online, operations.AddField):
    """AddField with its foreign key and index built online."""


class AlterFieldOnline(_Online, operations.AlterField):
    """AlterField with NOT NULL, unique, indexes and integer widening done online."""


def _refuse_in_transaction(schema_editor: Any, operation: Any) -> None:
    connection = schema_editor.connection
    if connection.in_atomic_block and not schema_editor.collect_sql:
        raise NotSupportedError(
            f"{type(operation).__name__} cannot be executed inside a transaction (set atomic = False on the"
            " migration).")


@contextlib.contextmanager
def _online_editor(schema_editor: Any, operation: Any) -> Iterator[Any]:
    """An online editor for `schema_editor`'s connection (or `schema_editor` itself where there is nothing to do)."""
    from migration_pilot.online.editor import OnlineEditorMixin, OnlineSession, editor_class
    from migration_pilot.pipeline.apply import Retry

    connection = schema_editor.connection
    if connection.vendor != "postgresql" or isinstance(schema_editor, OnlineEditorMixin):
        yield schema_editor  # elsewhere the plain form is the online one; in a deploy it already is online
        return
    _refuse_in_transaction(schema_editor, operation)
    with connection.cursor() as cursor:
        existing = frozenset(connection.introspection.table_names(cursor))
    session = OnlineSession(existing, Retry(), keep_defaults=False, tolerate=ALREADY_THERE)
    klass = editor_class(type(schema_editor), session)
    editor = klass(connection, collect_sql=schema_editor.collect_sql, atomic=False)
    if schema_editor.collect_sql:
        editor.collected_sql = schema_editor.collected_sql  # sqlmigrate shows the online form
    with editor:
        yield editor
