"""Row fingerprints around a forward/backward/forward round trip, to report rows lost or changed.

A table's rows are keyed by primary key when it has a single-column one (so a
changed value shows as "changed"), else by the whole row. Only columns present on
both sides of a comparison are compared: a column the migration adds or drops is
not "data lost", a value in a column both sides share is.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

Rows = dict[Any, dict[str, Any]]


@dataclass(frozen=True, slots=True)
class TableDifference:
    """How one table's rows differ between two moments."""

    table: str
    lost: int
    changed: int
    added: int

    def __str__(self) -> str:
        return f"{self.table}: {self.lost} rows lost, {self.changed} changed, {self.added} added"


@dataclass(frozen=True, slots=True)
class RoundTripReport:
    """What a forward, backward, forward round trip did to the rows of the tables the migration touches."""

    migration: tuple[str, str]
    tables: tuple[str, ...]
    backward: tuple[TableDifference, ...] = field(default=())
    """Rows before the migration vs after going forward then backward (the reverse should restore them)."""
    forward_again: tuple[TableDifference, ...] = field(default=())
    """Rows after the first forward vs after forward, backward, forward (the round trip should not lose any)."""

    @property
    def lossless(self) -> bool:
        """True when neither comparison found a lost or changed row."""
        return not any(d.lost or d.changed for d in (*self.backward, *self.forward_again))

    def __str__(self) -> str:
        app, name = self.migration
        lines = [f"Round trip of {app}.{name} over {len(self.tables)} tables:"]
        for title, diffs in (("after backward", self.backward), ("after forward again", self.forward_again)):
            bad = [d for d in diffs if d.lost or d.changed]
            lines.append(f"  {title}: " + ("no rows lost or changed" if not bad else "; ".join(map(str, bad))))
        return "\n".join(lines)


def _value(value: Any) -> Any:
    if isinstance(value, memoryview | bytearray):
        return bytes(value)
    return value


def table_rows(connection: Any, tables: Iterable[str]) -> Iterator[tuple[str, str | None, list[str], list[Any]]]:
    """(table, primary key column, column names, raw rows) of each of `tables` that exists, read whole."""
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        existing = set(connection.introspection.table_names(cursor))
        for table in tables:
            if table not in existing:
                continue
            pk = connection.introspection.get_primary_key_column(cursor, table)
            cursor.execute(f"SELECT * FROM {quote(table)}")
            names = [column[0] for column in cursor.description]
            yield table, pk, names, cursor.fetchall()


def fingerprint(connection: Any, tables: Iterable[str]) -> dict[str, Rows]:
    """Every row of each existing table, keyed by primary key (or by a hash of the row)."""
    out: dict[str, Rows] = {}
    for table, pk, names, raws in table_rows(connection, tables):
        rows: Rows = {}
        for raw in raws:
            row = {name: _value(value) for name, value in zip(names, raw, strict=True)}
            key = row[pk] if pk in row else hashlib.sha256(repr(sorted(row.items())).encode()).hexdigest()
            rows[key] = row
        out[table] = rows
    return out


def compare(before: dict[str, Rows], after: dict[str, Rows]) -> tuple[TableDifference, ...]:
    """Per table present on both sides: rows lost, changed (on shared columns) and added."""
    diffs = []
    for table in sorted(set(before) & set(after)):
        old, new = before[table], after[table]
        shared = set(next(iter(old.values()), {})) & set(next(iter(new.values()), {}))
        lost = sum(1 for key in old if key not in new)
        added = sum(1 for key in new if key not in old)
        changed = sum(1 for key in old if key in new
                      and any(old[key].get(c) != new[key].get(c) for c in shared))
        diffs.append(TableDifference(table, lost, changed, added))
    return tuple(diffs)


def touched_tables(migration: Any, states: Sequence[Any]) -> list[str]:
    """Tables of the models the migration's operations name; every table of its app for RunPython/RunSQL."""
    names: set[str] = set()
    whole_app = False
    for operation in migration.operations:
        model = getattr(operation, "model_name", None) or getattr(operation, "name", None)
        if type(operation).__name__ in {"RunPython", "RunSQL", "SeparateDatabaseAndState"} or not model:
            whole_app = True
            continue
        names.add(model.lower())
    tables: set[str] = set()
    for state in states:
        for model in state.apps.get_models(include_auto_created=True):
            meta = model._meta
            if meta.app_label != migration.app_label:
                continue
            owner = meta.auto_created._meta.model_name if meta.auto_created else meta.model_name
            if whole_app or owner in names:
                tables.add(meta.db_table)
    return sorted(tables)
