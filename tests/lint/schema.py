"""A comparable snapshot of a PostgreSQL database's schema, to prove a fix changes nothing.

A safe alternative must leave exactly the schema the original operation
leaves: same columns, types, defaults, indexes (names and definitions) and
constraints (and whether they are validated).
"""

from __future__ import annotations

from typing import Any

_QUERIES = {
    "columns": """
        SELECT table_name, column_name, data_type, character_maximum_length, is_nullable,
               column_default
        FROM information_schema.columns WHERE table_schema = 'public'
        ORDER BY 1, 2""",
    "indexes": """
        SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'
        ORDER BY 1, 2""",
    "constraints": """
        SELECT rel.relname, con.conname, con.contype, pg_get_constraintdef(con.oid), con.convalidated
        FROM pg_constraint con JOIN pg_class rel ON rel.oid = con.conrelid
        JOIN pg_namespace ns ON ns.oid = rel.relnamespace WHERE ns.nspname = 'public'
        ORDER BY 1, 2""",
    "invalid_indexes": """
        SELECT indexrelid::regclass::text FROM pg_index WHERE NOT indisvalid""",
}


def pg_schema(connection: Any) -> dict[str, list[tuple[Any, ...]]]:
    """Columns, indexes and constraints of the public schema, ignoring Django's history table."""
    snapshot = {}
    with connection.cursor() as cursor:
        for kind, query in _QUERIES.items():
            cursor.execute(query)
            snapshot[kind] = [row for row in cursor.fetchall() if "django_migrations" not in row]
    return snapshot
