"""A copy of examples/shop on a real database, driven through manage.py in a subprocess."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from migration_pilot.drift.shadow import shadow_prefix
from tests.databases import Server, admin_connection

SHOP = Path(__file__).resolve().parents[2] / "examples" / "shop"


@dataclass
class Result:
    out: str
    err: str
    code: int

    def json(self) -> dict[str, Any]:
        return json.loads(self.out)


class Project:
    """examples/shop copied to `root`, its settings pointed at one database."""

    def __init__(self, root: Path, vendor: str, server: Server | None, name: str) -> None:
        self.root, self.vendor, self.server, self.name = root, vendor, server, name
        shutil.copytree(SHOP, root, ignore=shutil.ignore_patterns("db.sqlite3", "__pycache__"))
        self.cache = root / "cache"

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in {"DJANGO_SETTINGS_MODULE", "DATABASE_URL"}}
        env["MIGRATION_PILOT_CACHE_DIR"] = str(self.cache)
        if self.vendor == "sqlite":
            env["SHOP_SQLITE_PATH"] = self.name
        else:
            assert self.server is not None
            env["DATABASE_URL"] = self.server.url(self.name)
        env.update(extra)
        return env

    def manage(self, *args: str, timeout: float = 300, **env: str) -> Result:
        done = subprocess.run([sys.executable, "manage.py", *args], cwd=self.root, capture_output=True,
                              text=True, env=self.env(**env), timeout=timeout, check=False)
        return Result(done.stdout, done.stderr, done.returncode)

    def start(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen([sys.executable, "manage.py", *args], cwd=self.root, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=self.env())

    def migrate(self, *args: str) -> None:
        result = self.manage("migrate", "--no-input", "-v", "0", *args)
        assert result.code == 0, result.err

    def verify(self, *args: str) -> Result:
        return self.manage("pilot", "verify", "--format", "json", *args)

    def sql(self, *statements: str) -> None:
        """Run statements by hand on the project database (autocommit)."""
        if self.vendor == "sqlite":
            with contextlib.closing(sqlite3.connect(self.name, isolation_level=None)) as conn:
                for statement in statements:
                    conn.execute(statement)
            return
        assert self.server is not None
        with admin_connection(self.server, self.name) as conn:
            cursor = conn.cursor()
            for statement in statements:
                cursor.execute(statement)
            cursor.close()

    def query(self, statement: str) -> list[tuple[Any, ...]]:
        if self.vendor == "sqlite":
            with contextlib.closing(sqlite3.connect(self.name)) as conn:
                return list(conn.execute(statement).fetchall())
        assert self.server is not None
        with admin_connection(self.server, self.name) as conn:
            cursor = conn.cursor()
            cursor.execute(statement)
            rows = list(cursor.fetchall())
            cursor.close()
            return rows

    def sqlite_rebuild(self, table: str, old: str, new: str) -> None:
        """Change a SQLite table's DDL by hand the only way SQLite allows: rebuild it."""
        (create,) = self.query(f"SELECT sql FROM sqlite_master WHERE name = '{table}'")[0:1]
        indexes = [r[0] for r in self.query(f"SELECT sql FROM sqlite_master WHERE type = 'index'"
                                            f" AND tbl_name = '{table}' AND sql IS NOT NULL")]
        assert old in create[0], create[0]
        ddl = create[0].replace(old, new).replace(f'"{table}"', '"pilot_rebuild"', 1)
        self.sql("PRAGMA foreign_keys = OFF", ddl, f'INSERT INTO "pilot_rebuild" SELECT * FROM "{table}"',
                 f'DROP TABLE "{table}"', f'ALTER TABLE "pilot_rebuild" RENAME TO "{table}"', *indexes)

    def shadow_databases(self) -> list[str]:
        """Scratch databases verify left on the server for this project's database (should always be none).

        Only this database's shadows: other tests (and the other Django leg) verify on the same server.
        """
        if self.server is None:
            return []
        pattern = shadow_prefix(self.name).replace("_", "\\_") + "%"
        if self.vendor == "postgresql":
            rows = self.query(f"SELECT datname FROM pg_database WHERE datname LIKE '{pattern}'")
        else:
            rows = self.query(f"SHOW DATABASES LIKE '{pattern}'")
        return [r[0] for r in rows]


def kinds(result: Result) -> set[tuple[str, str, str]]:
    """{(kind, table, object)} of a --format json run."""
    return {(d["kind"], d["table"], d["object"]) for d in result.json()["differences"]}
