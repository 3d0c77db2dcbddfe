"""Reach the real PostgreSQL and MariaDB servers of the test machine.

Scratch databases get unique names and are always dropped.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Server:
    """How to reach one server."""

    vendor: str
    host: str
    port: int
    user: str
    password: str = ""

    def django_settings(self, name: str) -> dict[str, Any]:
        """A DATABASES entry for database `name` on this server."""
        engine = {"postgresql": "django.db.backends.postgresql",
                  "mysql": "django.db.backends.mysql"}[self.vendor]
        return {"ENGINE": engine, "NAME": name, "USER": self.user, "PASSWORD": self.password,
                "HOST": self.host, "PORT": str(self.port)}

    def url(self, name: str) -> str:
        """A DATABASE_URL for database `name`."""
        scheme = "postgres" if self.vendor == "postgresql" else "mysql"
        auth = self.user + (f":{self.password}" if self.password else "")
        return f"{scheme}://{auth}@{self.host}:{self.port}/{name}"


def _pg_server() -> Server:
    return Server("postgresql", os.environ.get("PILOT_PG_HOST", "127.0.0.1"),
                  int(os.environ.get("PILOT_PG_PORT", "5432")),
                  os.environ.get("PILOT_PG_USER", "postgres"))


def _my_server() -> Server:
    return Server("mysql", os.environ.get("PILOT_MYSQL_HOST", "127.0.0.1"),
                  int(os.environ.get("PILOT_MYSQL_PORT", "3306")),
                  os.environ.get("PILOT_MYSQL_USER", "root"),
                  os.environ.get("PILOT_MYSQL_PASSWORD", ""))


def probe(vendor: str) -> tuple[Server | None, str]:
    """(server, "") when reachable, else (None, why)."""
    server = _pg_server() if vendor == "postgresql" else _my_server()
    try:
        with admin_connection(server) as conn:
            cursor = conn.cursor()
            cursor.execute("SELECT 1")
            cursor.close()
    except ImportError as exc:
        return None, f"its Python driver is not installed ({exc})"
    except Exception as exc:
        return None, f"cannot connect to {server.host}:{server.port} ({type(exc).__name__}: {exc})"
    return server, ""


@contextlib.contextmanager
def admin_connection(server: Server, database: str | None = None) -> Iterator[Any]:
    """A raw autocommit DB-API connection (to the maintenance database by default)."""
    if server.vendor == "postgresql":
        import psycopg

        conn = psycopg.connect(host=server.host, port=server.port, user=server.user,
                               dbname=database or "postgres", autocommit=True, connect_timeout=5)
    else:
        import MySQLdb

        kwargs: dict[str, Any] = {"host": server.host, "port": server.port, "user": server.user,
                                  "password": server.password, "connect_timeout": 5}
        if database:
            kwargs["database"] = database
        conn = MySQLdb.connect(**kwargs)
        conn.autocommit(True)
    try:
        yield conn
    finally:
        conn.close()


@contextlib.contextmanager
def scratch_database(server: Server, prefix: str = "pilot_test") -> Iterator[str]:
    """Create a uniquely named empty database; drop it afterwards, whatever happens."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with admin_connection(server) as conn:
        cursor = conn.cursor()
        cursor.execute(f"CREATE DATABASE {name}")
        cursor.close()
    try:
        yield name
    finally:
        with admin_connection(server) as conn:
            cursor = conn.cursor()
            if server.vendor == "postgresql":
                cursor.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            else:
                cursor.execute(f"DROP DATABASE IF EXISTS {name}")
            cursor.close()


@contextlib.contextmanager
def django_connection(server: Server | None, name: str) -> Iterator[Any]:
    """A Django connection to database `name` (SQLite file path when `server` is None).

    It is registered under a unique alias, because Django's migration recorder
    reaches the database through the ORM by alias; it is removed afterwards.
    """
    from django.db import connections
    from django.db.utils import ConnectionHandler

    if server is None:
        settings = {"ENGINE": "django.db.backends.sqlite3", "NAME": name}
    else:
        settings = server.django_settings(name)
    alias = f"scratch_{uuid.uuid4().hex[:8]}"
    connections.settings[alias] = ConnectionHandler({"default": settings}).settings["default"]
    connection = connections[alias]
    try:
        yield connection
    finally:
        connection.close()
        del connections[alias]
        del connections.settings[alias]


@contextlib.contextmanager
def scratch_connection(vendor: str, server: Server | None, tmp_path: Any) -> Iterator[Any]:
    """A Django connection to a fresh empty database of `vendor`, removed afterwards."""
    if vendor == "sqlite":
        with django_connection(None, str(tmp_path / "scratch.sqlite3")) as connection:
            yield connection
        return
    assert server is not None
    with scratch_database(server) as name, django_connection(server, name) as connection:
        yield connection
