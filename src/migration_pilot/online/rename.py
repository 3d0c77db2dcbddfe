"""Rename a column without breaking the code still running: expand now, contract after the release.

`RENAME COLUMN` is instant, but every query of the release still running
names the old column and fails from that moment until the new code is out.
Expand/contract keeps both names working in between:

- expand (before the release): add the new column with the old one's type,
  a trigger that keeps the two equal whichever one a statement
  writes, copy the existing rows in resting keyset batches, prove NOT NULL
  with a validated CHECK, and build the old column's indexes again on the new
  one, CONCURRENTLY, under temporary names;
- contract (after the release, `pilot deploy --phase post`): in one short
  transaction drop the trigger and the old column (its indexes go with it),
  SET NOT NULL (no scan), and give the new indexes the old names, so the
  schema ends exactly as `RENAME COLUMN` would have left it.

A column with a database default, in a constraint or referenced by a view or
foreign key, or a table without a single-column primary key, is refused with the reason
(`column_facts().blockers`).
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from typing import Any

from migration_pilot.online.steps import drop_invalid_index
from migration_pilot.online.swap import _build_index, _copy, _patiently, column_facts, in_one_transaction
from migration_pilot.pipeline.events import Event, EventSink, ignore


class RenameRefusedError(RuntimeError):
    """The column cannot be renamed by expand/contract (the reason says why)."""


def names(table: str, old: str, new: str) -> tuple[str, str]:
    """(trigger/function name, NOT NULL check name) for renaming `table.old` to `new`."""
    digest = hashlib.sha256(f"{table}.{old}.{new}".encode()).hexdigest()[:8]
    return f"pilot_rename_{digest}", f"{new[:40]}_notnull_{digest}"


def temporary_index(name: str) -> str:
    """The name an index of the old column is built under on the new one until the contract."""
    return f"{name[:48]}_pilot"


def expand(connection: Any, table: str, old: str, new: str, *, retry: Any, emit: EventSink = ignore) -> None:
    """Add `new` beside `old`, kept equal by a trigger, filled, indexed; raises RenameRefusedError."""
    facts = column_facts(connection, table, old)
    if facts is None:
        raise RenameRefusedError(f"column {table}.{old} does not exist")
    blockers = list(facts.blockers)
    if facts.default is not None:  # the new code's INSERTs would get the default, not their value, in the old column
        blockers.append(f"it has a database default ({facts.default})")
    if blockers:
        raise RenameRefusedError(f"{table}.{old} cannot be renamed online: {'; '.join(blockers)}")
    q = connection.ops.quote_name
    function, check = names(table, old, new)
    t, o, n = q(table), q(old), q(new)
    started = time.monotonic()
    with connection.cursor() as cursor:
        cursor.execute("SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = to_regclass(%s)"
                       " AND attname = %s", [t, old])
        column_type = cursor.fetchone()[0]

    def ddl(*statements: str) -> None:
        in_one_transaction(connection, statements, retry, emit, label=f"rename of {table}.{old}")

    ddl(f"ALTER TABLE {t} ADD COLUMN IF NOT EXISTS {n} {column_type}")
    # Whichever name a statement writes, both columns end up equal: the old code writes the old one.
    ddl(f"CREATE OR REPLACE FUNCTION {q(function)}() RETURNS trigger LANGUAGE plpgsql AS $pilot$ BEGIN"
        f" IF TG_OP = 'UPDATE' AND NEW.{n} IS DISTINCT FROM OLD.{n} AND NEW.{o} IS NOT DISTINCT FROM OLD.{o}"
        f" THEN NEW.{o} := NEW.{n}; ELSIF TG_OP = 'INSERT' AND NEW.{o} IS NULL THEN NEW.{o} := NEW.{n};"
        f" ELSE NEW.{n} := NEW.{o}; END IF; RETURN NEW; END $pilot$",
        f"DROP TRIGGER IF EXISTS {q(function)} ON {t}",
        f"CREATE TRIGGER {q(function)} BEFORE INSERT OR UPDATE ON {t} FOR EACH ROW EXECUTE FUNCTION {q(function)}()")
    rows = _copy(connection, t, q(facts.primary_key or "id"), o, n, facts.sql_type)
    emit(Event("online_step", f"   online: copied {rows:,} row(s) of {table}.{old} into {new}"
               f" ({time.monotonic() - started:.2f}s)", {"rows": rows}))
    for name, definition in facts.indexes:
        _build_index(connection, definition, old, new, temporary_index(name), retry, emit)
    if facts.not_null:
        with contextlib.suppress(Exception):  # a re-run: the check is there already
            ddl(f"ALTER TABLE {t} ADD CONSTRAINT {q(check)} CHECK ({n} IS NOT NULL) NOT VALID")
        _patiently(connection, retry, f"ALTER TABLE {t} VALIDATE CONSTRAINT {q(check)}")


def contract(connection: Any, table: str, old: str, new: str, *, retry: Any, emit: EventSink = ignore) -> None:
    """Drop the old column and the trigger, SET NOT NULL, give the new indexes the old names."""
    q = connection.ops.quote_name
    function, check = names(table, old, new)
    t, o, n = q(table), q(old), q(new)
    facts = column_facts(connection, table, old)
    if facts is None:  # contracted already (a re-run)
        return
    statements = [f"DROP TRIGGER IF EXISTS {q(function)} ON {t}", f"ALTER TABLE {t} DROP COLUMN {o}"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_constraint WHERE conname = %s AND conrelid = to_regclass(%s)", [check, t])
        proven = cursor.fetchone() is not None
    if proven:
        statements += [f"ALTER TABLE {t} ALTER COLUMN {n} SET NOT NULL", f"ALTER TABLE {t} DROP CONSTRAINT {q(check)}"]
    statements += [f"ALTER INDEX IF EXISTS {q(temporary_index(name))} RENAME TO {q(name)}" for name, _ in facts.indexes]

    in_one_transaction(connection, statements, retry, emit, label=f"contract of {table}.{old}")
    with contextlib.suppress(Exception), connection.cursor() as cursor:
        cursor.execute(f"DROP FUNCTION IF EXISTS {q(function)}()")
    emit(Event("online_step", f"   online: {table}.{old} is now {table}.{new} (old column dropped)"))


def undo_expand(connection: Any, table: str, old: str, new: str) -> None:
    """Take away everything `expand` made (the reverse of the expand migration)."""
    q = connection.ops.quote_name
    function, _check = names(table, old, new)
    facts = column_facts(connection, table, old)
    for name, _definition in facts.indexes if facts else ():
        drop_invalid_index(connection, temporary_index(name))
        with contextlib.suppress(Exception), connection.cursor() as cursor:
            cursor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {q(temporary_index(name))}")
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TRIGGER IF EXISTS {q(function)} ON {q(table)}")
        cursor.execute(f"DROP FUNCTION IF EXISTS {q(function)}()")
        cursor.execute(f"ALTER TABLE {q(table)} DROP COLUMN IF EXISTS {q(new)}")
