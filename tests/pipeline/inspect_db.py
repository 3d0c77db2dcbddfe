"""Read a database's schema and rows from outside the tool, for before/after comparisons."""

from __future__ import annotations

import re
import sqlite3
import subprocess
from contextlib import closing
from typing import Any

from tests.databases import Server, admin_connection


def query(vendor: str, server: Server | None, name: str, sql: str) -> list[tuple[Any, ...]]:
    if vendor == "sqlite":
        # sqlite3's own context manager commits but does not close: closing() adds the close.
        with closing(sqlite3.connect(name)) as conn, conn:
            return list(conn.execute(sql).fetchall())
    assert server is not None
    with admin_connection(server, name) as conn:
        cursor = conn.cursor()
        cursor.execute(sql)
        rows = list(cursor.fetchall()) if cursor.description else []
        cursor.close()
        return [tuple(r) for r in rows]


def schema_dump(vendor: str, server: Server | None, name: str) -> str:
    """The full schema as the database's own tools print it (normalised for counters)."""
    if vendor == "postgresql":
        assert server is not None
        done = subprocess.run(
            ["pg_dump", "--schema-only", "--no-owner", "--restrict-key=pilottest", "-h", server.host,
             "-p", str(server.port), "-U", server.user, name],
            capture_output=True, text=True, check=True)
        return done.stdout
    if vendor == "mysql":
        tables = sorted(r[0] for r in query(vendor, server, name, "SHOW TABLES"))
        parts = []
        for table in tables:
            create = query(vendor, server, name, f"SHOW CREATE TABLE `{table}`")[0][1]
            parts.append(re.sub(r" AUTO_INCREMENT=\d+", "", create))
        return "\n".join(parts)
    rows = query(vendor, server, name, "SELECT type, name, sql FROM sqlite_master ORDER BY type, name")
    return "\n".join(f"{t} {n}: {s}" for t, n, s in rows if not n.startswith("sqlite_"))


def applied(vendor: str, server: Server | None, name: str) -> list[tuple[str, str]]:
    return sorted((a, n) for a, n in query(vendor, server, name, "SELECT app, name FROM django_migrations"))
