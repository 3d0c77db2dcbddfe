"""Read any supported database into a `Catalog` (see model.py): read-only catalog queries.

One reader per vendor, because the facts verify needs (index validity, NOT
VALID constraints, deferrability, exact index definitions) are not in
Django's `connection.introspection`; Django's own introspection stays the
source for which tables exist on vendors we do not know.
"""

from __future__ import annotations

from typing import Any

from migration_pilot.drift.model import Catalog


def read_catalog(connection: Any) -> Catalog:
    """The schema of the database behind `connection`, vendor-neutral."""
    if connection.vendor == "postgresql":
        from migration_pilot.drift import catalog_postgresql as reader
    elif connection.vendor == "mysql":
        from migration_pilot.drift import catalog_mysql as reader  # type: ignore[no-redef]
    elif connection.vendor == "sqlite":
        from migration_pilot.drift import catalog_sqlite as reader  # type: ignore[no-redef]
    else:
        from migration_pilot.drift.errors import UnsupportedVendorError

        raise UnsupportedVendorError(connection.alias, connection.vendor)
    return reader.read(connection)


def server_version(connection: Any) -> str:
    """Vendor and major version, part of the reference cache key."""
    if connection.vendor == "postgresql":
        return f"postgresql-{connection.pg_version // 10000}"
    if connection.vendor == "mysql":
        flavour = "mariadb" if connection.mysql_is_mariadb else "mysql"
        return f"{flavour}-{'.'.join(str(p) for p in connection.mysql_version[:2])}"
    import sqlite3

    return f"{connection.vendor}-{sqlite3.sqlite_version}"
