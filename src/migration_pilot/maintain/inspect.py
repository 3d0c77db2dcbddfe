"""What the report shows: per table size, dead tuples, estimated bloat; invalid and duplicate indexes.

Read from the catalog and statistics views only (pg_stat_user_tables,
information_schema, SQLite pragmas), so inspecting never takes a lock that
waits on traffic. "Estimated bloat" is the share of the table that dead tuples
occupy (PostgreSQL: size x dead / (live + dead)), MySQL's DATA_FREE, and
SQLite's free pages (database-wide); it is an estimate, not pgstattuple.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class TableStats:
    """One table's size and tuples (None when the database does not say)."""

    table: str
    size_bytes: int | None
    live_tuples: int | None
    dead_tuples: int | None
    bloat_bytes: int | None

    @property
    def dead_ratio(self) -> float:
        """Dead tuples over all tuples; 0 when unknown or empty."""
        if not self.dead_tuples:
            return 0.0
        return self.dead_tuples / ((self.live_tuples or 0) + self.dead_tuples)


@dataclass(frozen=True, slots=True)
class IndexInfo:
    """One index: where, on what, and whether the database can use it."""

    schema: str
    table: str
    name: str
    columns: tuple[str, ...]
    """Column names, or the expression text, in index order (plus the predicate of a partial index)."""
    unique: bool
    valid: bool = True


@dataclass
class Inspection:
    """Everything the report shows for a set of tables."""

    vendor: str
    tables: list[TableStats]
    indexes: list[IndexInfo] = field(default_factory=list)
    database_free_bytes: int | None = None
    """SQLite: free pages in the whole file (what VACUUM would give back)."""

    @property
    def invalid_indexes(self) -> list[IndexInfo]:
        """Indexes the database marked INVALID (PostgreSQL: a failed CREATE INDEX CONCURRENTLY)."""
        return [i for i in self.indexes if not i.valid]

    @property
    def duplicate_indexes(self) -> list[tuple[IndexInfo, ...]]:
        """Groups of two or more valid indexes on the same table over the same columns."""
        groups: dict[tuple[str, str, tuple[str, ...]], list[IndexInfo]] = defaultdict(list)
        for index in self.indexes:
            if index.valid:
                groups[(index.schema, index.table, index.columns)].append(index)
        return [tuple(sorted(g, key=lambda i: i.name)) for _, g in sorted(groups.items()) if len(g) > 1]


def inspect_tables(connection: Any, tables: Sequence[str]) -> Inspection:
    """Read the statistics and indexes of `tables` from the alias's database."""
    if not tables:
        return Inspection(connection.vendor, [])
    if connection.vendor == "postgresql":
        return _postgresql(connection, tables)
    if connection.vendor == "mysql":
        return _mysql(connection, tables)
    if connection.vendor == "sqlite":
        return _sqlite(connection, tables)
    from migration_pilot.maintain.actions import UnsupportedVendorError

    raise UnsupportedVendorError(connection.vendor)


def _postgresql(connection: Any, tables: Sequence[str]) -> Inspection:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, pg_total_relation_size(c.oid), s.n_live_tup, s.n_dead_tup"
            " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid"
            " WHERE c.relkind IN ('r', 'p', 'm') AND n.nspname = ANY(current_schemas(false))"
            " AND c.relname = ANY(%s)", [list(tables)])
        stats = {}
        for name, size, live, dead in cursor.fetchall():
            live, dead = int(live or 0), int(dead or 0)
            bloat = int(size * dead / (live + dead)) if size and dead else 0
            stats[name] = TableStats(name, int(size), live, dead, bloat)
        cursor.execute(
            "SELECT n.nspname, t.relname, i.relname, x.indisunique, x.indisvalid,"
            " ARRAY(SELECT CASE WHEN k.attnum = 0 THEN '(expression)' ELSE a.attname::text END"
            "       FROM unnest(x.indkey) WITH ORDINALITY AS k(attnum, ord)"
            "       LEFT JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = k.attnum ORDER BY k.ord),"
            " coalesce(pg_get_expr(x.indexprs, x.indrelid), ''), coalesce(pg_get_expr(x.indpred, x.indrelid), ''),"
            " am.amname"
            " FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid"
            " JOIN pg_namespace n ON n.oid = t.relnamespace JOIN pg_am am ON am.oid = i.relam"
            " WHERE n.nspname = ANY(current_schemas(false)) AND t.relname = ANY(%s)", [list(tables)])
        indexes = []
        for schema, table, name, unique, valid, columns, exprs, predicate, method in cursor.fetchall():
            key = tuple(columns) + ((f"expressions: {exprs}",) if exprs else ()) + (
                (f"where: {predicate}",) if predicate else ()) + ((f"using {method}",) if method != "btree" else ())
            indexes.append(IndexInfo(schema, table, name, key, bool(unique), bool(valid)))
    return Inspection("postgresql", [stats[t] for t in tables if t in stats], indexes)


def _mysql(connection: Any, tables: Sequence[str]) -> Inspection:
    marks = ", ".join(["%s"] * len(tables))
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT TABLE_NAME, DATA_LENGTH + INDEX_LENGTH, TABLE_ROWS, DATA_FREE FROM information_schema.TABLES"
            f" WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME IN ({marks})", list(tables))
        stats = {name: TableStats(name, int(size or 0), None if rows is None else int(rows), None, int(free or 0))
                 for name, size, rows, free in cursor.fetchall()}
        cursor.execute(
            "SELECT TABLE_NAME, INDEX_NAME, NON_UNIQUE, COLUMN_NAME, SUB_PART, SEQ_IN_INDEX"
            " FROM information_schema.STATISTICS"
            f" WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME IN ({marks}) ORDER BY TABLE_NAME, INDEX_NAME,"
            " SEQ_IN_INDEX", list(tables))
        columns: dict[tuple[str, str, bool], list[str]] = defaultdict(list)
        for table, name, non_unique, column, sub_part, _seq in cursor.fetchall():
            columns[(table, name, not non_unique)].append(f"{column}({sub_part})" if sub_part else str(column))
    schema = connection.settings_dict.get("NAME") or ""
    indexes = [IndexInfo(schema, t, n, tuple(c), u) for (t, n, u), c in columns.items()]
    return Inspection("mysql", [stats[t] for t in tables if t in stats], indexes)


def _sqlite(connection: Any, tables: Sequence[str]) -> Inspection:
    quote = connection.ops.quote_name
    stats = []
    indexes = []
    with connection.cursor() as cursor:
        for table in tables:
            size = None
            try:
                cursor.execute("SELECT SUM(pgsize) FROM dbstat WHERE name = %s OR name IN"
                               " (SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = %s)",
                               [table, table])
                row = cursor.fetchone()
                size = int(row[0]) if row and row[0] is not None else None
            except Exception:  # SQLite built without the dbstat table
                size = None
            cursor.execute(f"SELECT COUNT(*) FROM {quote(table)}")
            stats.append(TableStats(table, size, int(cursor.fetchone()[0]), None, None))
            cursor.execute(f"PRAGMA index_list({quote(table)})")
            for _seq, name, unique, _origin, partial in cursor.fetchall():
                cursor.execute(f"PRAGMA index_info({quote(name)})")
                key = tuple(str(col) if col is not None else "(expression)" for _n, _cid, col in cursor.fetchall())
                if partial:
                    cursor.execute("SELECT sql FROM sqlite_master WHERE type = 'index' AND name = %s", [name])
                    sql = (cursor.fetchone() or [""])[0] or ""
                    key += (f"where: {sql.split(' WHERE ', 1)[-1]}",)
                indexes.append(IndexInfo("main", table, str(name), key, bool(unique)))
        cursor.execute("PRAGMA freelist_count")
        free_pages = int(cursor.fetchone()[0])
        cursor.execute("PRAGMA page_size")
        page_size = int(cursor.fetchone()[0])
    return Inspection("sqlite", stats, indexes, database_free_bytes=free_pages * page_size)
