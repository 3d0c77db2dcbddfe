"""A schema fingerprint from the catalog, to prove a rollback put the schema back exactly.

It is verify's own catalog reader (drift/catalog*.py): every table with its
columns (type, nullability, default, collation), indexes (with validity),
constraints (with validation and deferrability), views and sequences. Those
readers query only the system catalogs (pg_catalog, information_schema,
SQLite's pragmas), never the tables themselves, so taking the fingerprint
cannot queue behind a session that holds a table locked. Django's
introspection would: it reads a table's columns with `SELECT * ... LIMIT 1`.
"""

from __future__ import annotations

from typing import Any


def schema_fingerprint(connection: Any) -> dict[str, Any]:
    """{"tables": {name: {...}}, "views": {...}, "sequences": {...}} as plain, comparable data."""
    from migration_pilot.drift.catalog import read_catalog

    catalog = read_catalog(connection).to_json()
    tables = {name: _sorted_table(table) for name, table in catalog["tables"].items()}
    return {"tables": tables, "views": catalog["views"], "sequences": catalog["sequences"]}


def _sorted_table(table: dict[str, Any]) -> dict[str, Any]:
    """The table with its indexes and constraints in name order, so reading order never matters."""
    return {**table,
            "indexes": sorted(table["indexes"], key=lambda index: str(index["name"])),
            "constraints": sorted(table["constraints"], key=lambda constraint: str(constraint["name"]))}


def fingerprint_difference(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """Human-readable differences between two fingerprints (empty when identical)."""
    problems = []
    old, new = before["tables"], after["tables"]
    for table in sorted(set(old) | set(new)):
        if table not in new:
            problems.append(f"table {table} is missing")
        elif table not in old:
            problems.append(f"table {table} was added")
        elif old[table]["columns"] != new[table]["columns"]:
            problems.append(f"columns of {table} differ")
        elif old[table]["indexes"] != new[table]["indexes"]:
            problems.append(f"indexes of {table} differ")
        elif old[table] != new[table]:
            problems.append(f"constraints of {table} differ")
    for kind in ("views", "sequences"):
        for name in sorted(set(before[kind]) ^ set(after[kind])):
            problems.append(f"{kind[:-1]} {name} {'was added' if name in after[kind] else 'is missing'}")
        for name in sorted(n for n in set(before[kind]) & set(after[kind]) if before[kind][n] != after[kind][n]):
            problems.append(f"{kind[:-1]} {name} differs")
    return problems
