"""Rename a table without breaking the code still running: the old name lives on as a view.

`ALTER TABLE ... RENAME TO` is instant, but every query of the release still
running names the old table and fails ("relation does not exist") until the
new code is out. A view that is a plain `SELECT` of one table's columns is
updatable on PostgreSQL (automatically) and on MySQL/MariaDB (MERGE
algorithm): INSERT (with the table's defaults, identity / AUTO_INCREMENT,
RETURNING and LAST_INSERT_ID()), UPDATE, DELETE and SELECT ... FOR UPDATE
through it reach the table, and foreign keys follow the table. So the expand
step renames the table and leaves a view under the old name; the old code
keeps working through the view, the new code uses the table. The contract
step (after the release, `pilot deploy --phase post`) drops the view.

- PostgreSQL: the rename and the view go in the migration's transaction, after
  Django's own statements: nobody ever sees the old name missing.
- MySQL/MariaDB (no transactional DDL): before Django's statements, a view of
  the new name is made over a placeholder table, then one `RENAME TABLE`
  swaps table and view atomically; Django's own rename of that table is then
  skipped. Its drop and re-creation of the foreign keys pointing to the table
  run with foreign_key_checks = 0, so InnoDB adds them in place instead of
  copying the referencing tables (their rows were checked by the same key a
  moment before).

A RenameModel also renames the column named after the model in auto-created
many-to-many tables (`invoice_id` -> `bill_id`). For the model's own
many-to-many fields the view under the through table's old name shows the
column under its old name (`SELECT bill_id AS invoice_id`), on PostgreSQL. A
column renamed in a table that keeps its name (a many-to-many field of
another model pointing to the renamed one), or on MySQL/MariaDB, where the
column rename cannot be made atomic with the swap, has no such view: the
online form is refused with the reason (`refusal()`), before anything runs.

A view never replaces a table here: the contract drops the old name only when
it is one of our views, and the expand refuses when the old name is taken.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Final

ONLINE_VENDORS: Final = frozenset({"postgresql", "mysql"})
"""Where the old table name can stay a view (elsewhere the operations are the plain rename)."""

MARK = "pilot: the old name of renamed table {new}; dropped by its contract step"
FK_CHECKS_OFF: Final = "SET @pilot_fk_checks = @@foreign_key_checks, foreign_key_checks = 0"
FK_CHECKS_BACK: Final = "SET foreign_key_checks = @pilot_fk_checks"


class TableRenameRefusedError(RuntimeError):
    """The rename cannot keep every old name working (the message says why and what to do)."""


@dataclass(frozen=True, slots=True)
class TableRename:
    """One table renamed by the operation, with the columns renamed inside it (old, new)."""

    old: str
    new: str
    columns: tuple[tuple[str, str], ...] = ()

    def contract_arg(self) -> list[Any]:
        """The entry of RenameTableContract's `tables` argument: [old, new] or [old, new, {old column: new}]."""
        return [self.old, self.new, dict(self.columns)] if self.columns else [self.old, self.new]

    @classmethod
    def from_arg(cls, entry: Sequence[Any]) -> TableRename:
        """The inverse of `contract_arg` (also accepts a plain (old, new) pair)."""
        old, new, *rest = entry
        columns = tuple((str(o), str(n)) for o, n in dict(rest[0]).items()) if rest and rest[0] else ()
        return cls(str(old), str(new), columns)


def _m2m_columns(old_field: Any, new_field: Any) -> tuple[tuple[str, str], ...]:
    pairs = ((old_field.m2m_column_name(), new_field.m2m_column_name()),
             (old_field.m2m_reverse_name(), new_field.m2m_reverse_name()))
    return tuple((o, n) for o, n in pairs if o != n)


def _auto_through(field: Any) -> bool:
    return bool(field.remote_field.through._meta.auto_created)


def table_renames(app_label: str, old_model: str, new_model: str, from_state: Any,
                  to_state: Any) -> list[TableRename]:
    """The model's table and its auto-created many-to-many tables whose name or columns change."""
    before = from_state.apps.get_model(app_label, old_model)
    after = to_state.apps.get_model(app_label, new_model)
    found = [TableRename(before._meta.db_table, after._meta.db_table)]
    fields_before = {f.name: f for f in before._meta.local_many_to_many}
    for field in after._meta.local_many_to_many:
        old_field = fields_before.get(field.name)
        if old_field is not None and _auto_through(old_field) and _auto_through(field):
            found.append(TableRename(old_field.remote_field.through._meta.db_table,
                                     field.remote_field.through._meta.db_table, _m2m_columns(old_field, field)))
    return [r for r in found if r.old != r.new or r.columns]


def renamed_tables(app_label: str, old_model: str, new_model: str, from_state: Any,
                   to_state: Any) -> list[tuple[str, str]]:
    """(old table, new table) of a model and its auto-created many-to-many tables, where they differ."""
    return [(r.old, r.new) for r in table_renames(app_label, old_model, new_model, from_state, to_state)
            if r.old != r.new]


def refusal(app_label: str, old_model: str, new_model: str, from_state: Any, to_state: Any,
            vendor: str) -> str | None:
    """Why the old names cannot all stay usable through views (one line with the fallback), or None."""
    fallback = ("keep the old names (Meta.db_table on the model, and db_table plus a through model whose"
                " ForeignKey keeps db_column for the many-to-many), or run the plain rename while no old code runs")
    for rename in table_renames(app_label, old_model, new_model, from_state, to_state):
        if rename.columns and rename.old == rename.new:
            return _refused(rename.old, rename.columns, "in place, which no view can keep", fallback)
        if rename.columns and vendor == "mysql":
            return _refused(rename.old, rename.columns, "in a statement of its own on MySQL/MariaDB, so a view"
                            " cannot replace the table in the same instant", fallback)
    if old_model == new_model:
        return None
    before = from_state.apps.get_model(app_label, old_model)
    for relation in before._meta.related_objects:  # many-to-many fields of other models pointing here
        field = relation.field
        if not field.many_to_many or relation.related_model is before or not _auto_through(field):
            continue
        owner = relation.related_model._meta
        new_field = to_state.apps.get_model(owner.app_label, owner.model_name)._meta.get_field(field.name)
        columns = _m2m_columns(field, new_field)
        if columns:
            table = field.remote_field.through._meta.db_table
            return _refused(table, columns, f"in place (the many-to-many {owner.object_name}.{field.name}),"
                            " which no view can keep", fallback)
    return None


def _refused(table: str, columns: Sequence[tuple[str, str]], how: str, fallback: str) -> str:
    renamed = ", ".join(f"{table}.{old} to {new}" for old, new in columns)
    return f"The table rename cannot be made online: it renames column {renamed} {how}; {fallback}."


def _columns(connection: Any, table: str) -> list[str]:
    with connection.cursor() as cursor:
        return [column.name for column in connection.introspection.get_table_description(cursor, table)]


def view_sql(connection: Any, rename: TableRename, columns: Sequence[str] | None = None) -> str:
    """CREATE VIEW under the old name: the new table's columns (read from it unless given), renamed ones
    under their old names."""
    q = connection.ops.quote_name
    if rename.columns:
        old_name = {new: old for old, new in rename.columns}
        select = ", ".join(f"{q(c)} AS {q(old_name[c])}" if c in old_name else q(c)
                           for c in (columns if columns is not None else _columns(connection, rename.new)))
    else:
        select = "*"
    merge = "ALGORITHM = MERGE " if connection.vendor == "mysql" else ""
    return f"CREATE {merge}VIEW {q(rename.old)} AS SELECT {select} FROM {q(rename.new)}"


def create_views(connection: Any, renames: Sequence[TableRename]) -> None:
    """Views under the old names of tables renamed already, each a plain SELECT of its table (updatable)."""
    q = connection.ops.quote_name
    with connection.cursor() as cursor:
        for rename in renames:
            if rename.old == rename.new:
                continue
            cursor.execute(view_sql(connection, rename))
            if connection.vendor == "postgresql":
                cursor.execute(f"COMMENT ON VIEW {q(rename.old)} IS %s", [MARK.format(new=rename.new)])


def _ours(connection: Any, old: str, new: str) -> bool:
    """Whether `old` is a view we made over `new` (PostgreSQL: its comment; MySQL: its definition)."""
    q = connection.ops.quote_name
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT obj_description(to_regclass(%s), 'pg_class'), (SELECT relkind FROM pg_class"
                           " WHERE oid = to_regclass(%s))", [q(old), q(old)])
            comment, kind = cursor.fetchone()
            return bool(kind == "v" and comment == MARK.format(new=new))
        cursor.execute("SELECT VIEW_DEFINITION, DATABASE() FROM information_schema.VIEWS WHERE TABLE_SCHEMA ="
                       " DATABASE() AND TABLE_NAME = %s", [old])
        row = cursor.fetchone()
    return row is not None and f" from {q(row[1])}.{q(new)}" in str(row[0])


def drop_views(connection: Any, renames: Sequence[TableRename]) -> list[str]:
    """Drop the views `create_views` or `swap_in_views` made (never a table); the names dropped."""
    q = connection.ops.quote_name
    dropped = []
    for rename in renames:
        if rename.old != rename.new and _ours(connection, rename.old, rename.new):
            with connection.cursor() as cursor:
                cursor.execute(f"DROP VIEW {q(rename.old)}")
            dropped.append(rename.old)
    return dropped


def _side_name(name: str, why: str) -> str:
    return f"pilot_{why}_{hashlib.sha256(name.encode()).hexdigest()[:12]}"


def swap_in_views(connection: Any, renames: Sequence[TableRename]) -> list[tuple[str, str]]:
    """MySQL: rename each table and put a view under its old name in one atomic RENAME TABLE.

    A view cannot be created over a table that does not exist yet, so each
    view is made over a placeholder of the new name (CREATE TABLE ... LIKE),
    which is then dropped; the view waits, invalid for a moment and unused,
    under a side name. A table whose old name is our view already (a re-run
    after a stop half-way) is left as it is. Returns the (old, new) table
    renames done, now or before.
    """
    q = connection.ops.quote_name
    done = [(r.old, r.new) for r in renames if r.old != r.new and _ours(connection, r.old, r.new)]
    renames = [r for r in renames if r.old != r.new and (r.old, r.new) not in done]  # a re-run goes on
    made: list[str] = []
    try:
        with connection.cursor() as cursor:
            for rename in renames:
                side = _side_name(rename.old, "view")
                cursor.execute(f"CREATE TABLE {q(rename.new)} LIKE {q(rename.old)}")
                try:
                    cursor.execute(view_sql(connection, TableRename(side, rename.new, rename.columns)))
                    made.append(side)
                finally:
                    cursor.execute(f"DROP TABLE {q(rename.new)}")
            if renames:
                cursor.execute(_swap_in_sql(connection, renames))
    except Exception:
        with connection.cursor() as cursor:
            for side in made:
                with contextlib.suppress(Exception):
                    cursor.execute(f"DROP VIEW IF EXISTS {q(side)}")
        raise
    return done + [(r.old, r.new) for r in renames]


def swap_out_views(connection: Any, renames: Sequence[TableRename]) -> list[tuple[str, str]]:
    """MySQL: the reverse of `swap_in_views`: each table back under its old name, replacing our view, atomically.

    Returns the (new, old) table renames done (a table whose old name is not
    our view is left to the plain rename).
    """
    ours = [r for r in renames if r.old != r.new and _ours(connection, r.old, r.new)]
    if not ours:
        return []
    with connection.cursor() as cursor:
        for statement in _swap_out_sql(connection, ours):
            cursor.execute(statement)
    return [(r.new, r.old) for r in ours]


def _swap_in_sql(connection: Any, renames: Sequence[TableRename]) -> str:
    q = connection.ops.quote_name
    return "RENAME TABLE " + ", ".join(
        f"{q(r.old)} TO {q(r.new)}, {q(_side_name(r.old, 'view'))} TO {q(r.old)}" for r in renames)


def _swap_out_sql(connection: Any, renames: Sequence[TableRename]) -> list[str]:
    q = connection.ops.quote_name
    return ["RENAME TABLE " + ", ".join(f"{q(r.old)} TO {q(_side_name(r.old, 'gone'))}, {q(r.new)} TO {q(r.old)}"
                                        for r in renames),
            *(f"DROP VIEW {q(_side_name(r.old, 'gone'))}" for r in renames)]


@contextlib.contextmanager
def renamed_already(schema_editor: Any, done: Sequence[tuple[str, str]]) -> Iterator[None]:
    """Inside, the editor skips the table renames in `done`; on MySQL its foreign keys are re-added in place."""
    skip = set(done)
    plain = schema_editor.alter_db_table

    def alter_db_table(model: Any, old: str, new: str) -> None:
        if (old, new) not in skip:
            plain(model, old, new)

    schema_editor.alter_db_table = alter_db_table
    mysql = schema_editor.connection.vendor == "mysql"

    def run(statement: str) -> None:
        if schema_editor.collect_sql:  # `pilot plan`: written down, not run
            schema_editor.execute(statement, None)
            return
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(statement)

    try:
        if mysql:
            run(FK_CHECKS_OFF)
        yield
    finally:
        del schema_editor.alter_db_table
        if mysql:
            run(FK_CHECKS_BACK)


def expand(operation: Any, app_label: str, schema_editor: Any, from_state: Any, to_state: Any,
           renames: Sequence[TableRename], model: Any, plain: Any) -> None:
    """Run the rename (`plain()`, the Django operation's forwards) leaving views under the old names."""
    connection = schema_editor.connection
    if connection.vendor not in ONLINE_VENDORS or not operation.allow_migrate_model(connection.alias, model):
        plain()
        return
    why = operation.online_refusal(app_label, from_state, to_state, connection.vendor)
    if why and schema_editor.collect_sql:  # lint reports the refusal; the SQL shown is the plain rename's
        plain()
        return
    if why:
        raise TableRenameRefusedError(why)
    if schema_editor.collect_sql:
        _collect_expand(schema_editor, renames, to_state, plain)
        return
    if connection.vendor == "postgresql":
        plain()
        create_views(connection, renames)
        return
    with renamed_already(schema_editor, swap_in_views(connection, renames)):
        plain()


def unexpand(schema_editor: Any, renames: Sequence[TableRename], plain: Any) -> None:
    """The reverse of `expand`: drop our views and rename back (`plain()`, Django's backwards)."""
    connection = schema_editor.connection
    if connection.vendor not in ONLINE_VENDORS:
        plain()
    elif schema_editor.collect_sql:
        _collect_unexpand(schema_editor, renames, plain)
    elif connection.vendor == "postgresql":
        drop_views(connection, renames)
        plain()
    else:
        with renamed_already(schema_editor, swap_out_views(connection, renames)):
            plain()


def plan_reason(vendor: str, renames: Sequence[TableRename], *, backwards: bool = False) -> str:
    """One line for `pilot plan`: what the deploy runs instead of the plain rename, and why."""
    pairs = ", ".join(f"{r.old} to {r.new}" for r in renames if r.old != r.new)
    old = ", ".join(r.old for r in renames if r.old != r.new)
    if backwards:
        how = ("drops the view" if vendor == "postgresql"
               else "swaps the table back in place of the view in one atomic RENAME TABLE")
        return f"rename table {pairs} back: {how} under {old} first (the view the online rename left)"
    if vendor == "postgresql":
        return (f"rename table {pairs} and leave an updatable view under {old} in the same transaction, so the"
                " release still running keeps working until RenameTableContract drops the view after the deploy")
    return (f"rename table {pairs} and put an updatable MERGE view under {old} in one atomic RENAME TABLE (the view"
            " is made first over a placeholder table), so the release still running keeps working until"
            " RenameTableContract drops it; the foreign keys Django re-creates are added with"
            " foreign_key_checks = 0, in place, without copying the referencing tables")


def _note(schema_editor: Any, reason: str) -> None:
    """Hand `reason` to the plan that is collecting this SQL (plan/sql.py gives its editors `pilot_notes`)."""
    notes = getattr(schema_editor, "pilot_notes", None)
    if notes is not None:
        notes.append(reason)


def _state_columns(state: Any, table: str) -> list[str] | None:
    """The columns of `table` in `state` (auto-created many-to-many tables included), in creation order."""
    for model in state.apps.get_models(include_auto_created=True):
        if model._meta.db_table == table:
            return [f.column for f in model._meta.local_concrete_fields]
    return None


def _comment_sql(connection: Any, rename: TableRename) -> str:
    literal = MARK.format(new=rename.new).replace("'", "''")
    return f"COMMENT ON VIEW {connection.ops.quote_name(rename.old)} IS '{literal}'"


def _collect_expand(schema_editor: Any, renames: Sequence[TableRename], to_state: Any, plain: Any) -> None:
    """`expand` in collect-SQL mode: the statements the deploy runs, written down; the database is not read."""
    connection = schema_editor.connection
    q = connection.ops.quote_name
    renamed = [r for r in renames if r.old != r.new]
    _note(schema_editor, plan_reason(connection.vendor, renamed))
    if connection.vendor == "postgresql":
        plain()
        for rename in renamed:
            schema_editor.execute(view_sql(connection, rename, _state_columns(to_state, rename.new)), None)
            schema_editor.execute(_comment_sql(connection, rename), None)
        return
    for rename in renamed:  # MySQL: never with renamed columns (refused)
        side = TableRename(_side_name(rename.old, "view"), rename.new)
        schema_editor.execute(f"CREATE TABLE {q(rename.new)} LIKE {q(rename.old)}", None)
        schema_editor.execute(view_sql(connection, side), None)
        schema_editor.execute(f"DROP TABLE {q(rename.new)}", None)
    if renamed:
        schema_editor.execute(_swap_in_sql(connection, renamed), None)
    with renamed_already(schema_editor, [(r.old, r.new) for r in renamed]):
        plain()


def _collect_unexpand(schema_editor: Any, renames: Sequence[TableRename], plain: Any) -> None:
    """`unexpand` in collect-SQL mode. The views exist whenever the rename is unapplied: its contract,
    which depends on it, is unapplied first and puts them back."""
    connection = schema_editor.connection
    q = connection.ops.quote_name
    renamed = [r for r in renames if r.old != r.new]
    _note(schema_editor, plan_reason(connection.vendor, renamed, backwards=True))
    if connection.vendor == "postgresql":
        for rename in renamed:
            schema_editor.execute(f"DROP VIEW {q(rename.old)}", None)
        plain()
        return
    if renamed:
        for statement in _swap_out_sql(connection, renamed):
            schema_editor.execute(statement, None)
    with renamed_already(schema_editor, [(r.new, r.old) for r in renamed]):
        plain()
