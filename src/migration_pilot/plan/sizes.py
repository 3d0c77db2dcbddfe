"""Table sizes from the live catalog (read-only, cheap: no full scans on PostgreSQL/MySQL)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class TableSize:
    """Row estimate and bytes on disk (None when the catalog does not know)."""

    rows: int | None
    bytes: int | None


def table_sizes(connection: Any, tables: Iterable[str]) -> dict[str, TableSize]:
    """Sizes of the existing tables among `tables`; missing tables are left out."""
    names = sorted(set(tables))
    if not names:
        return {}
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT c.relname, c.reltuples::bigint, pg_total_relation_size(c.oid) FROM pg_class c"
                " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'p')"
                " AND n.nspname = ANY(current_schemas(false)) AND c.relname = ANY(%s)",
                [names],
            )
            return {name: TableSize(rows if rows >= 0 else None, size)
                    for name, rows, size in cursor.fetchall()}
        if connection.vendor == "mysql":
            placeholders = ", ".join(["%s"] * len(names))
            cursor.execute(
                "SELECT table_name, table_rows, data_length + index_length FROM information_schema.tables"
                f" WHERE table_schema = DATABASE() AND table_name IN ({placeholders})",
                names,
            )
            return {name: TableSize(rows, size) for name, rows, size in cursor.fetchall()}
        existing = set(connection.introspection.table_names(cursor))
        sizes = {}
        for name in names:
            if name in existing:
                cursor.execute(f"SELECT count(*) FROM {connection.ops.quote_name(name)}")
                sizes[name] = TableSize(int(cursor.fetchone()[0]), None)
        return sizes
