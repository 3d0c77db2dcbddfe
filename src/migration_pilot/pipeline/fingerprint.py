"""A schema fingerprint from the catalog, to prove a rollback put the schema back exactly.

Deliberately simple and complete for what migrations change: every table, its
columns (type, nullability) and every constraint and index Django's
introspection reports. Compared before the deploy and after a rollback.
"""

from __future__ import annotations

from typing import Any


def schema_fingerprint(connection: Any) -> dict[str, Any]:
    """{table: {"columns": [...], "constraints": {...}}} for every table, sorted."""
    result: dict[str, Any] = {}
    with connection.cursor() as cursor:
        introspection = connection.introspection
        for table in sorted(introspection.table_names(cursor)):
            columns = [
                (c.name, c.type_code if isinstance(c.type_code, str | int) else str(c.type_code),
                 c.internal_size, c.null_ok, c.default if connection.vendor != "sqlite" else None)
                for c in introspection.get_table_description(cursor, table)
            ]
            constraints = {
                name: {k: (sorted(v) if k == "columns" and not isinstance(v, str) and v else v)
                       for k, v in info.items() if k in {"columns", "primary_key", "unique", "foreign_key",
                                                        "check", "index", "type", "orders"}}
                for name, info in introspection.get_constraints(cursor, table).items()
                if not name.startswith("__") or connection.vendor != "sqlite"
            }
            result[table] = {"columns": sorted(columns, key=lambda c: c[0]), "constraints": constraints}
    return result


def fingerprint_difference(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """Human-readable differences between two fingerprints (empty when identical)."""
    problems = []
    for table in sorted(set(before) | set(after)):
        if table not in after:
            problems.append(f"table {table} is missing")
        elif table not in before:
            problems.append(f"table {table} was added")
        elif before[table]["columns"] != after[table]["columns"]:
            problems.append(f"columns of {table} differ")
        elif before[table]["constraints"] != after[table]["constraints"]:
            problems.append(f"constraints or indexes of {table} differ")
    return problems
