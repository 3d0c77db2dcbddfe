"""Row counts and per-column checksums of tables, to tell whether a round trip kept the data.

A column's checksum is the MD5 of its values in primary-key order (in row order
of all values when the table has no single-column primary key), each value
normalised so the same data reads the same on every backend.
"""

from __future__ import annotations

import datetime
import decimal
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class TableSum:
    """One table at one moment: its row count and a checksum per column."""

    rows: int
    columns: dict[str, str]


def _normal(value: Any) -> str:
    if isinstance(value, memoryview | bytearray):
        value = bytes(value)
    if isinstance(value, decimal.Decimal):
        return str(format(value.normalize(), "f")) if value == value else "NaN"
    if isinstance(value, datetime.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(datetime.UTC).replace(tzinfo=None)
        return str(value.isoformat())
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return repr(value) if isinstance(value, bytes) else str(value) if value is not None else "\x00NULL"


def table_sums(connection: Any, tables: Iterable[str]) -> dict[str, TableSum]:
    """Count and column checksums of each table that exists."""
    from migration_pilot.testing.roundtrip import table_rows

    out: dict[str, TableSum] = {}
    for table, pk, names, raws in table_rows(connection, tables):
        rows = [[_normal(v) for v in row] for row in raws]
        if pk in names:
            at = names.index(pk)
            rows.sort(key=lambda row: (len(row[at]), row[at]))
        else:
            rows.sort()
        columns = {}
        for index, name in enumerate(names):
            digest = hashlib.md5(usedforsecurity=False)
            for row in rows:
                digest.update(row[index].encode("utf-8", "surrogatepass"))
                digest.update(b"\x1f")
            columns[name] = digest.hexdigest()
        out[table] = TableSum(len(rows), columns)
    return out


@dataclass(frozen=True, slots=True)
class Loss:
    """A table whose data a round trip did not keep."""

    table: str
    rows_before: int
    rows_after: int
    columns: tuple[str, ...]

    def __str__(self) -> str:
        parts = []
        if self.rows_before != self.rows_after:
            parts.append(f"{self.rows_before} rows became {self.rows_after}")
        if self.columns:
            parts.append("values changed in " + ", ".join(self.columns))
        return f"{self.table}: " + "; ".join(parts)


def compare(before: dict[str, TableSum], after: dict[str, TableSum], *,
            skip: dict[str, set[str]] | None = None) -> list[Loss]:
    """Tables present before whose row count or shared-column checksums differ after (minus `skip` columns)."""
    losses = []
    for table, old in sorted(before.items()):
        new = after.get(table)
        if new is None:
            losses.append(Loss(table, old.rows, 0, ()))
            continue
        ignored = (skip or {}).get(table, set())
        changed = tuple(c for c in old.columns if c in new.columns and c not in ignored
                        and old.columns[c] != new.columns[c])
        missing = tuple(f"{c} (gone)" for c in old.columns if c not in new.columns and c not in ignored)
        if old.rows != new.rows or changed or missing:
            losses.append(Loss(table, old.rows, new.rows, changed + missing))
    return losses
