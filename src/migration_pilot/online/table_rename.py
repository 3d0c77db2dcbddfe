"""Rename a table without breaking the code still running: the old name lives on as a view.

`ALTER TABLE ... RENAME TO` is instant, but every query of the release still
running names the old table and fails ("relation does not exist") until the
new code is out. On PostgreSQL a view that is a plain `SELECT *` of one table
is automatically updatable: INSERT (with the table's defaults and identity,
and RETURNING), UPDATE, DELETE and SELECT ... FOR UPDATE through it reach the
table. So the expand step renames the table and, in the same short
transaction, creates a view under the old name; the old code keeps working
through the view, the new code uses the table. The contract step (after the
release, `pilot deploy --phase post`) drops the view.

A view never replaces a table here: the contract drops the old name only when
it is one of our views, and the expand refuses when the old name is taken.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

MARK = "pilot: the old name of renamed table {new}; dropped by its contract step"


def renamed_tables(app_label: str, old_model: str, new_model: str, from_state: Any,
                   to_state: Any) -> list[tuple[str, str]]:
    """(old table, new table) of a model and its auto-created many-to-many tables, where they differ."""
    before = from_state.apps.get_model(app_label, old_model)
    after = to_state.apps.get_model(app_label, new_model)
    pairs = [(before._meta.db_table, after._meta.db_table)]
    through_before = {f.name: f.remote_field.through for f in before._meta.local_many_to_many}
    for field in after._meta.local_many_to_many:
        old_through, new_through = through_before.get(field.name), field.remote_field.through
        if old_through is not None and old_through._meta.auto_created and new_through._meta.auto_created:
            pairs.append((old_through._meta.db_table, new_through._meta.db_table))
    return [(old, new) for old, new in pairs if old != new]


def create_views(connection: Any, pairs: Sequence[tuple[str, str]]) -> None:
    """Views under the old names, each a plain `SELECT *` of the renamed table (updatable)."""
    q = connection.ops.quote_name
    with connection.cursor() as cursor:
        for old, new in pairs:
            cursor.execute(f"CREATE VIEW {q(old)} AS SELECT * FROM {q(new)}")
            cursor.execute(f"COMMENT ON VIEW {q(old)} IS %s", [MARK.format(new=new)])


def drop_views(connection: Any, pairs: Sequence[tuple[str, str]]) -> list[str]:
    """Drop the views `create_views` made (never a table); the names dropped."""
    q = connection.ops.quote_name
    dropped = []
    with connection.cursor() as cursor:
        for old, new in pairs:
            cursor.execute("SELECT obj_description(to_regclass(%s), 'pg_class'), (SELECT relkind FROM pg_class"
                           " WHERE oid = to_regclass(%s))", [q(old), q(old)])
            comment, kind = cursor.fetchone()
            if kind == "v" and comment == MARK.format(new=new):
                cursor.execute(f"DROP VIEW {q(old)}")
                dropped.append(old)
    return dropped
