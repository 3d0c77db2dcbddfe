"""Sequences behind their table's data: the first INSERT without an id would fail (G3).

A data-only restore, COPY, or rows inserted with explicit ids do not advance
a PostgreSQL sequence (serial or identity column) or, on MySQL/MariaDB, may
leave a table's AUTO_INCREMENT at or below max(id); the next INSERT then
fails with "duplicate key value violates unique constraint ..._pkey".
`sequence_differences` compares each with max(column) and returns one
`Difference` (kind `sequence_behind`) per sequence that is behind, with the
statement that fixes it. Reads only: max() of a key column is an index
lookup.

SQLite is not checked: with AUTOINCREMENT it takes the larger of
`sqlite_sequence` and max(rowid), so an old `sqlite_sequence` value never
makes an INSERT fail.
"""

from __future__ import annotations

import contextlib
from typing import Any, Final

from migration_pilot.drift.differences import Difference

_PG_SEQUENCES: Final = """
SELECT n.nspname, c.relname, a.attname, sn.nspname, seq.relname,
       has_table_privilege(c.oid, 'SELECT') AND has_sequence_privilege(seq.oid, 'SELECT, USAGE')
FROM pg_depend d
JOIN pg_class seq ON seq.oid = d.objid AND seq.relkind = 'S'
JOIN pg_namespace sn ON sn.oid = seq.relnamespace
JOIN pg_class c ON c.oid = d.refobjid
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = d.refobjsubid
WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
  AND c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
ORDER BY 1, 2, 3
"""
_PG_SEQUENCE_STATE: Final = ("SELECT last_value, start_value, increment_by FROM pg_sequences"
                              " WHERE schemaname = %s AND sequencename = %s")
_CAUSE: Final = ("a restore of data only, COPY, or rows inserted with explicit ids do not advance it; the next"
                 " INSERT without an id fails with a duplicate key")


def sequence_differences(connection: Any, notes: list[str] | None = None) -> list[Difference]:
    """One `sequence_behind` difference per sequence or AUTO_INCREMENT at or below max(its column).

    On PostgreSQL a sequence the role may not read (a SELECT-only role has no privilege on sequences:
    pg_sequences then shows no value) is not judged; `notes` gets one line naming them and the grant.
    """
    if connection.vendor == "postgresql":
        return _postgresql(connection, notes if notes is not None else [])
    if connection.vendor == "mysql":
        return _mysql(connection)
    return []


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _postgresql(connection: Any, notes: list[str]) -> list[Difference]:
    quote = connection.ops.quote_name
    found = []
    unreadable: list[tuple[str, str]] = []
    with connection.cursor() as cursor:
        cursor.execute(_PG_SEQUENCES)
        for schema, table, column, seq_schema, seq_name, readable in cursor.fetchall():
            if not readable:
                unreadable.append((seq_schema, seq_name))
                continue
            relation = f"{quote(schema)}.{quote(table)}"
            # max() first, the sequence after: every row max() sees took its value before, so under
            # concurrent INSERTs the sequence read second is never behind it by a race (it can be,
            # read first: rows inserted in between would look like rows the sequence never gave).
            cursor.execute(f"SELECT max({quote(column)}) FROM {relation}")
            highest = cursor.fetchone()[0]
            cursor.execute(_PG_SEQUENCE_STATE, [seq_schema, seq_name])
            last, start, step = cursor.fetchone()
            if step <= 0:
                continue  # descending sequences are not key generators Django makes
            following = start if last is None else last + step
            if highest is None or following > highest:
                continue
            sequence = f"{quote(seq_schema)}.{quote(seq_name)}"
            name = table if schema == "public" else f"{schema}.{table}"
            found.append(Difference(
                kind="sequence_behind", table=name, object=seq_name,
                expected=f"next value above max({column}) = {highest}", actual=f"next value {following}",
                cause=f"Sequence {seq_name} is behind the data of {name}.{column}: {_CAUSE}.",
                fix=f"SELECT setval({_literal(sequence)}, (SELECT max({quote(column)}) FROM {relation}));"))
        if unreadable:
            cursor.execute("SELECT current_user")
            role = quote(str(cursor.fetchone()[0]))
            grants = "; ".join(f"GRANT SELECT ON ALL SEQUENCES IN SCHEMA {quote(s)} TO {role}"
                               for s in sorted({schema for schema, _ in unreadable}))
            names = ", ".join(name for _, name in unreadable[:5]) + (", ..." if len(unreadable) > 5 else "")
            notes.append(f"Did not check {len(unreadable)} sequence(s) against their table's max(id): this role may"
                         f" not read them ({names}). For that check: {grants}.")
    return found


def _mysql(connection: Any) -> list[Difference]:
    quote = connection.ops.quote_name
    found = []
    with connection.cursor() as cursor:
        with contextlib.suppress(Exception):  # MySQL 8 caches AUTO_INCREMENT in information_schema; MariaDB does not
            cursor.execute("SET SESSION information_schema_stats_expiry = 0")
        cursor.execute(
            "SELECT t.TABLE_NAME, c.COLUMN_NAME, t.AUTO_INCREMENT FROM information_schema.TABLES t"
            " JOIN information_schema.COLUMNS c ON c.TABLE_SCHEMA = t.TABLE_SCHEMA AND c.TABLE_NAME = t.TABLE_NAME"
            " WHERE t.TABLE_SCHEMA = DATABASE() AND t.TABLE_TYPE = 'BASE TABLE'"
            " AND c.EXTRA LIKE '%%auto_increment%%' ORDER BY 1")
        for table, column, _ in cursor.fetchall():
            cursor.execute(f"SELECT max({quote(column)}) FROM {quote(table)}")
            highest = cursor.fetchone()[0]
            # The counter after max(), for the same reason as on PostgreSQL (concurrent INSERTs).
            cursor.execute("SELECT AUTO_INCREMENT FROM information_schema.TABLES"
                           " WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s", [table])
            counter = cursor.fetchone()[0]
            if counter is None:
                continue
            if highest is None or int(counter) > highest:
                continue
            found.append(Difference(
                kind="sequence_behind", table=table, object=f"{column} AUTO_INCREMENT",
                expected=f"AUTO_INCREMENT above max({column}) = {highest}", actual=f"AUTO_INCREMENT {counter}",
                cause=f"The AUTO_INCREMENT of {table} is behind its data: {_CAUSE}.",
                fix=f"ALTER TABLE {quote(table)} AUTO_INCREMENT = {int(highest) + 1};"))
    return found
