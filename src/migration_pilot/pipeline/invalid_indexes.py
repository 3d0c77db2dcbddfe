"""No INVALID index is left behind by a failed CREATE INDEX CONCURRENTLY (scenario B4).

A concurrent index build that fails (lock or statement timeout, a duplicate
under a unique index, a killed process) leaves the index in the catalog with
`indisvalid = false`: never used by queries, still maintained on every write,
and in the way of the retry, which then fails with "relation already exists".
Around each migration that runs outside a transaction on PostgreSQL, the
deploy drops such an index when it is one the migration itself is about to
build (left by an earlier, interrupted run) or one its failed attempt just
left. Dropping is CONCURRENTLY, so traffic is not blocked; when even that
cannot get its lock, the caller is told the index's name so a person can.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class InvalidIndex:
    """An index PostgreSQL marked INVALID, by schema, name and table."""

    schema: str
    name: str
    table: str


@dataclass
class Cleanup:
    """What a clean-up did: the indexes dropped, and those that could not be (with why)."""

    dropped: list[InvalidIndex]
    left: list[tuple[InvalidIndex, str]]

    def describe(self) -> str:
        """A sentence for the report, or "" when there was nothing to clean up."""
        parts = []
        if self.dropped:
            parts.append("dropped the INVALID index(es) " + ", ".join(i.name for i in self.dropped)
                         + " a failed CREATE INDEX CONCURRENTLY had left")
        for index, why in self.left:
            parts.append(f"INVALID index {index.schema}.{index.name} on {index.table} is still there ({why});"
                         f" drop it with DROP INDEX CONCURRENTLY {index.schema}.{index.name}, or deploy again"
                         " and the deploy drops it")
        return "; ".join(parts)


def applies(connection: Any, migration: Any) -> bool:
    """Whether `migration` can leave an INVALID index: PostgreSQL, outside a transaction."""
    return bool(connection.vendor == "postgresql" and not migration.atomic)


def invalid_indexes(connection: Any) -> set[InvalidIndex]:
    """Every INVALID index in the schemas on the search path."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT n.nspname, i.relname, t.relname FROM pg_index x"
            " JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid"
            " JOIN pg_namespace n ON n.oid = i.relnamespace"
            " WHERE NOT x.indisvalid AND n.nspname = ANY(current_schemas(false))")
        return {InvalidIndex(schema, name, table) for schema, name, table in cursor.fetchall()}


def planned_index_names(migration: Any) -> set[str]:
    """Names of the indexes the migration builds concurrently (AddIndexConcurrently)."""
    # Imported here: django.contrib.postgres needs a PostgreSQL driver, which SQLite users lack.
    from django.contrib.postgres.operations import AddIndexConcurrently

    return {op.index.name for op in migration.operations if isinstance(op, AddIndexConcurrently)}


def drop(connection: Any, indexes: set[InvalidIndex]) -> Cleanup:
    """DROP INDEX CONCURRENTLY each one (autocommit, under the session's lock timeout)."""
    cleanup = Cleanup([], [])
    quote = connection.ops.quote_name
    for index in sorted(indexes, key=lambda i: (i.schema, i.name)):
        try:
            with connection.cursor() as cursor:
                cursor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {quote(index.schema)}.{quote(index.name)}")
            cleanup.dropped.append(index)
        except Exception as exc:  # reported with the index's name; the deploy decides what follows
            cleanup.left.append((index, " ".join(str(exc).split())[:200] or type(exc).__name__))
    return cleanup
