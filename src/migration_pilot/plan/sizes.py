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
    if connection.vendor == "postgresql":
        return _postgresql_sizes(connection, names)
    with connection.cursor() as cursor:
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


# pg_total_relation_size opens the table, which waits behind an ACCESS EXCLUSIVE lock (a running
# migration, VACUUM FULL); a read-only plan must never queue there. The page counts in pg_class need
# no lock: they are what the last VACUUM or ANALYZE saw, good enough to judge a table's size.
_PG_EXACT = ("SELECT c.relname, c.reltuples::bigint, pg_total_relation_size(c.oid) FROM pg_class c"
             " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'p')"
             " AND n.nspname = ANY(current_schemas(false)) AND c.relname = ANY(%s)")
_PG_ESTIMATE = ("SELECT c.relname, c.reltuples::bigint,"
                " (c.relpages + coalesce(t.relpages, 0) + coalesce((SELECT sum(i.relpages) FROM pg_index x"
                "  JOIN pg_class i ON i.oid = x.indexrelid WHERE x.indrelid = c.oid), 0))::bigint"
                " * current_setting('block_size')::bigint"
                " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                " LEFT JOIN pg_class t ON t.oid = c.reltoastrelid WHERE c.relkind IN ('r', 'p')"
                " AND n.nspname = ANY(current_schemas(false)) AND c.relname = ANY(%s)")
LOCKED_SIZE_WAIT = "1s"


def _postgresql_sizes(connection: Any, names: list[str]) -> dict[str, TableSize]:
    """Exact sizes, or the catalog's page counts when a table is locked against reading its size."""
    from django.db import transaction
    from django.db.utils import OperationalError

    try:
        with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
            cursor.execute("SELECT set_config('lock_timeout', %s, true)", [LOCKED_SIZE_WAIT])
            cursor.execute(_PG_EXACT, [names])
            rows = cursor.fetchall()
    except OperationalError as exc:
        if getattr(exc.__cause__, "sqlstate", None) != "55P03":  # only a lock timeout is expected here
            raise
        with connection.cursor() as cursor:
            cursor.execute(_PG_ESTIMATE, [names])
            rows = cursor.fetchall()
    return {name: TableSize(count if count >= 0 else None, size) for name, count, size in rows}
