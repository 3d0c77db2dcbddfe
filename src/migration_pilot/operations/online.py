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
  a type change that rewrites the table by an online swap;
- RenameFieldOnline / RenameFieldContract: a column rename by expand/contract;
- RenameModelOnline, AlterModelTableOnline / RenameTableContract: a table rename that
  leaves an updatable view under the old name until the post-deploy contract
  (PostgreSQL and MySQL/MariaDB; see online/table_rename.py).

They run outside a transaction (put them in a migration with `atomic = False`;
inside one they refuse with that fix) and are idempotent: a migration that
stopped half-way can simply be run again. On SQLite and MySQL/MariaDB, where
the plain form is already what the database offers, they run as the plain
operation (the table renames excepted on MySQL/MariaDB).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from django.db import NotSupportedError
from django.db.migrations import operations
from django.db.migrations.operations.base import Operation

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


class RenameFieldOnline(operations.RenameField):
    """RenameField by expand/contract on PostgreSQL: the new column beside the old one, kept equal by a trigger.

    The old code keeps reading and writing the old column until
    `RenameFieldContract` (a post-deploy migration, written by `pilot makesafe`)
    drops it. Elsewhere it is the plain rename.
    """

    def database_forwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        if schema_editor.connection.vendor != "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)
            return None
        _refuse_in_transaction(schema_editor, self)
        from migration_pilot.online.rename import RenameRefusedError, expand
        from migration_pilot.pipeline.apply import Retry

        table, old, new = _columns(self, app_label, from_state, to_state)
        if table is None:
            return None
        try:
            expand(schema_editor.connection, table, old, new, retry=Retry())
        except RenameRefusedError as exc:
            raise NotSupportedError(f"{exc}; rename it with RenameField in a release of its own instead.") from None
        return None

    def database_backwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        if schema_editor.connection.vendor != "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)
            return None
        from migration_pilot.online.rename import undo_expand

        table, old, new = _columns(self, app_label, to_state, from_state)
        if table is not None:
            undo_expand(schema_editor.connection, table, old, new)
        return None

    def describe(self) -> str:
        return f"{super().describe()} (expand: both columns kept equal until the post-deploy contract)"


class RenameFieldContract(Operation):
    """The contract step of RenameFieldOnline: drop the old column, name the new indexes as the old ones.

    Post-deploy (the old code must be gone). No state change; not reversible
    (the old column's data lives on in the new one, but nothing writes it back).
    """

    reversible = False
    reduces_to_sql = False
    atomic = False

    def __init__(self, model_name: str, old_name: str, new_name: str) -> None:
        self.model_name, self.old_name, self.new_name = model_name, old_name, new_name

    def deconstruct(self) -> tuple[str, list[Any], dict[str, Any]]:
        return type(self).__name__, [self.model_name, self.old_name, self.new_name], {}

    def state_forwards(self, app_label: str, state: Any) -> None:
        """The rename is in the state already (RenameFieldOnline)."""

    def database_forwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        if schema_editor.connection.vendor != "postgresql":
            return
        _refuse_in_transaction(schema_editor, self)
        from migration_pilot.online.rename import contract
        from migration_pilot.pipeline.apply import Retry

        model = to_state.apps.get_model(app_label, self.model_name)
        if not self.allow_migrate_model(schema_editor.connection.alias, model):
            return
        new_column = model._meta.get_field(self.new_name).column
        contract(schema_editor.connection, model._meta.db_table, self.old_name, new_column, retry=Retry())

    def database_backwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        from django.db.migrations.exceptions import IrreversibleError

        raise IrreversibleError(f"{type(self).__name__} dropped the old column {self.old_name}; it is not"
                                " brought back.")

    def describe(self) -> str:
        return f"Drop the old column {self.old_name} of {self.model_name} (renamed to {self.new_name})"

    @property
    def migration_name_fragment(self) -> str:
        return f"contract_{self.model_name.lower()}_{self.new_name.lower()}"


def _columns(operation: Any, app_label: str, before: Any, after: Any) -> tuple[str | None, str, str]:
    """(table, old column, new column) of a RenameField, or (None, ...) when the router skips the model."""
    old_model = before.apps.get_model(app_label, operation.model_name)
    new_model = after.apps.get_model(app_label, operation.model_name)
    if not operation.allow_migrate_model("default", new_model):
        return None, "", ""
    return (new_model._meta.db_table, old_model._meta.get_field(operation.old_name).column,
            new_model._meta.get_field(operation.new_name).column)


class _TableRenameOnline:
    """The plain table rename, leaving an updatable view under each old table name (see online/table_rename.py)."""

    def _renames(self, app_label: str, from_state: Any, to_state: Any) -> list[Any]:
        raise NotImplementedError

    def online_refusal(self, app_label: str, from_state: Any, to_state: Any, vendor: str) -> str | None:
        """Why the old names cannot all stay usable (a one-line reason with the fallback), or None."""
        raise NotImplementedError

    _going_back = False

    def database_forwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        def plain() -> None:
            super(_TableRenameOnline, self).database_forwards(  # type: ignore[misc]
                app_label, schema_editor, from_state, to_state)

        if self._going_back:  # Django's backwards of a rename is its forwards with the names swapped
            plain()
            return
        from migration_pilot.online.table_rename import expand

        expand(self, app_label, schema_editor, from_state, to_state, self._renames(app_label, from_state, to_state),
               self._model(app_label, to_state), plain)

    def database_backwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        def plain() -> None:
            self._going_back = True
            try:
                super(_TableRenameOnline, self).database_backwards(  # type: ignore[misc]
                    app_label, schema_editor, from_state, to_state)
            finally:
                self._going_back = False

        from migration_pilot.online.table_rename import unexpand

        unexpand(schema_editor, self._renames(app_label, to_state, from_state), plain)

    def _model(self, app_label: str, state: Any) -> Any:
        raise NotImplementedError


class RenameModelOnline(_TableRenameOnline, operations.RenameModel):
    """RenameModel whose old table name stays usable as a view until RenameTableContract (PostgreSQL, MySQL)."""

    def _renames(self, app_label: str, from_state: Any, to_state: Any) -> list[Any]:
        from migration_pilot.online.table_rename import table_renames

        return table_renames(app_label, self.old_name_lower, self.new_name_lower, from_state, to_state)

    def online_refusal(self, app_label: str, from_state: Any, to_state: Any, vendor: str) -> str | None:
        from migration_pilot.online.table_rename import refusal

        return refusal(app_label, self.old_name_lower, self.new_name_lower, from_state, to_state, vendor)

    def _model(self, app_label: str, state: Any) -> Any:
        return state.apps.get_model(app_label, self.new_name_lower)

    def describe(self) -> str:
        return f"{super().describe()} (the old table name stays a view until the post-deploy contract)"


class AlterModelTableOnline(_TableRenameOnline, operations.AlterModelTable):
    """AlterModelTable whose old table name stays usable as a view until RenameTableContract (PostgreSQL, MySQL)."""

    def _renames(self, app_label: str, from_state: Any, to_state: Any) -> list[Any]:
        from migration_pilot.online.table_rename import table_renames

        return table_renames(app_label, self.name_lower, self.name_lower, from_state, to_state)

    def online_refusal(self, app_label: str, from_state: Any, to_state: Any, vendor: str) -> str | None:
        from migration_pilot.online.table_rename import refusal

        return refusal(app_label, self.name_lower, self.name_lower, from_state, to_state, vendor)

    def _model(self, app_label: str, state: Any) -> Any:
        return state.apps.get_model(app_label, self.name_lower)

    def describe(self) -> str:
        return f"{super().describe()} (the old table name stays a view until the post-deploy contract)"


class RenameTableContract(Operation):
    """The contract step of a table rename: drop the views under the old names (post-deploy).

    No state change. Reversible: the views come back.
    """

    reduces_to_sql = False

    def __init__(self, tables: list[tuple[str, str]] | list[list[Any]]) -> None:
        """`tables`: [old, new] per renamed table, or [old, new, {old column: new column}] for a many-to-many table."""
        from migration_pilot.online.table_rename import TableRename

        self.renames = [TableRename.from_arg(entry) for entry in tables]
        self.tables = [r.contract_arg() for r in self.renames]

    def deconstruct(self) -> tuple[str, list[Any], dict[str, Any]]:
        return type(self).__name__, [self.tables], {}

    def state_forwards(self, app_label: str, state: Any) -> None:
        """The rename is in the state already (RenameModelOnline / AlterModelTableOnline)."""

    def database_forwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        from migration_pilot.online.table_rename import ONLINE_VENDORS, drop_views

        if schema_editor.connection.vendor in ONLINE_VENDORS and not schema_editor.collect_sql:
            drop_views(schema_editor.connection, self.renames)

    def database_backwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        from migration_pilot.online.table_rename import ONLINE_VENDORS, create_views

        if schema_editor.connection.vendor in ONLINE_VENDORS and not schema_editor.collect_sql:
            create_views(schema_editor.connection, self.renames)

    def describe(self) -> str:
        return "Drop the old table name(s) " + ", ".join(r.old for r in self.renames) + " (views)"
