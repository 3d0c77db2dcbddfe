"""A database backend that writes SQL for one vendor without ever connecting.

`pilot docs` shows the SQL of every migration for the database it targets
(`--vendor`, or the ENGINE of the default alias), like `sqlmigrate` does, but
with no server: Django's own schema editor in collect-SQL mode, on a
DatabaseWrapper whose server facts (PostgreSQL version, MySQL/MariaDB version
and SQL mode) are filled in beforehand so nothing asks the server. SQLite uses
a private in-memory database, which is nobody's data.

Some schema editor calls read constraint names from the live database (Django
looks up the name of a unique_together constraint before dropping it); offline
there is nothing to read, and the caller reports that operation's SQL as
unavailable rather than guessing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final

from django.db import connections

from migration_pilot.backends import DEFAULT_PG_VERSION

ALIAS: Final = "migration_pilot_docs_offline"
DEFAULT_MYSQL_VERSION: Final = "8.0.36"
DEFAULT_MARIADB_VERSION: Final = "10.11.6-MariaDB"
_ENGINES: Final = {"postgresql": "django.db.backends.postgresql", "mysql": "django.db.backends.mysql",
                   "mariadb": "django.db.backends.mysql", "sqlite": "django.db.backends.sqlite3"}
VENDORS: Final = tuple(sorted(_ENGINES))


@dataclass(frozen=True, slots=True)
class Target:
    """The database the documentation is written for."""

    vendor: str
    """postgresql, mysql, mariadb or sqlite."""
    version: str

    @property
    def lint_vendor(self) -> str:
        """The vendor name lint and the lock profiles use (MariaDB is judged as MySQL)."""
        return "mysql" if self.vendor == "mariadb" else self.vendor

    @property
    def display(self) -> str:
        """'PostgreSQL 14', 'MariaDB 10.11', 'SQLite'."""
        if self.vendor == "postgresql":
            return f"PostgreSQL {self.version}"
        if self.vendor == "mariadb":
            return "MariaDB " + ".".join(self.version.split("-")[0].split(".")[:2])
        if self.vendor == "mysql":
            return "MySQL " + ".".join(self.version.split(".")[:2])
        return "SQLite"


def target_for(vendor: str, pg_version: int | None = None) -> Target:
    """The documented target for `vendor` (lint's names plus 'mariadb')."""
    if vendor == "postgresql":
        return Target(vendor, str(pg_version or DEFAULT_PG_VERSION))
    if vendor == "mariadb":
        return Target(vendor, DEFAULT_MARIADB_VERSION)
    if vendor == "mysql":
        return Target(vendor, DEFAULT_MYSQL_VERSION)
    return Target(vendor, "")


def _settings(engine: str, name: str) -> dict[str, Any]:
    return {"ENGINE": engine, "NAME": name, "USER": "", "PASSWORD": "", "HOST": "", "PORT": "",
            "OPTIONS": {}, "TIME_ZONE": None, "CONN_MAX_AGE": 0, "CONN_HEALTH_CHECKS": False,
            "AUTOCOMMIT": True, "ATOMIC_REQUESTS": False, "TEST": {}}


def _mysql_quote_value(self: Any, value: Any) -> str:
    """MySQLdb escapes through a live connection; offline, the literal is written the same way by hand."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return "X'" + bytes(value).hex() + "'"
    text = str(value).replace("\\", "\\\\").replace("'", "\\'")
    return f"'{text}'"


def _mysql_field_should_be_indexed(self: Any, model: Any, fld: Any) -> bool:
    """Django asks the server for the table's storage engine; offline it is InnoDB, MySQL's default."""
    from django.db.backends.base.schema import BaseDatabaseSchemaEditor

    if not BaseDatabaseSchemaEditor._field_should_be_indexed(self, model, fld):
        return False
    if fld.get_internal_type() == "ForeignKey" and fld.db_constraint:
        return False
    return not self._is_limited_data_type(fld)


@dataclass(frozen=True, slots=True)
class CallableDefault:
    """A callable default's value, which exists only when migrate runs (timezone.now, uuid4...)."""

    name: str

    @property
    def sql(self) -> str:
        """A placeholder in the SQL where Django would inline today's value."""
        return f"/* value of {self.name}() when the migration runs */"


def _effective_default(self: Any, fld: Any) -> Any:
    """Django inlines a callable default's current value; a page shows a placeholder, the same every time."""
    from migration_pilot.docgen.words import callable_name

    if fld.has_default() and callable(fld.default):
        return CallableDefault(callable_name(fld.default))
    if not fld.has_default() and (getattr(fld, "auto_now", False) or getattr(fld, "auto_now_add", False)):
        kind = fld.get_internal_type()
        return CallableDefault({"DateField": "date.today", "TimeField": "timezone.now().time"}.get(
            kind, "timezone.now"))
    return super(type(self), self).effective_default(fld)


class OfflineError(RuntimeError):
    """The offline backend was asked to reach the server."""


def _refuse(self: Any, *args: Any, **kwargs: Any) -> Any:
    raise OfflineError("no server: the SQL is written offline")


def _postgresql_execute(self: Any, sql: Any, params: Any = ()) -> Any:
    """Django composes parameters into PostgreSQL SQL through a server cursor; here psycopg quotes them alone."""
    from psycopg import sql as psycopg_sql

    if params is None:
        return super(type(self), self).execute(sql, None)  # type: ignore[misc]
    composed = str(sql) % tuple(value.sql if isinstance(value, CallableDefault) else psycopg_sql.quote(value, None)
                                for value in params)
    return super(type(self), self).execute(composed, None)  # type: ignore[misc]


@contextlib.contextmanager
def no_database_access() -> Iterator[None]:
    """The project's own connections refuse to connect (or query, if already open) for the duration.

    Migration code can reach a database behind the schema editor's back: a
    field's callable default (wagtail's `get_root_collection_id`) runs a query
    on the default alias when Django computes the value for existing rows.
    Offline that operation's SQL is reported as unavailable, and the pages do
    not depend on which database happens to be reachable.
    """
    from django.conf import settings

    patched = []
    for alias in settings.DATABASES:
        connection = connections[alias]
        connection.ensure_connection = _refuse.__get__(connection)
        patched.append(connection)
    try:
        yield
    finally:
        for connection in patched:
            with contextlib.suppress(AttributeError):
                del connection.ensure_connection


@contextlib.contextmanager
def offline_connection(target: Target) -> Iterator[Any | None]:
    """A DatabaseWrapper for `target` that never connects; None when its driver is not installed.

    It is registered under a private alias for the duration (Django's schema
    editor looks connections up by alias) and closed afterwards.
    """
    engine = _ENGINES.get(target.vendor)
    if engine is None:
        yield None
        return
    try:
        from django.utils.module_loading import import_string

        wrapper_class = import_string(f"{engine}.base.DatabaseWrapper")
    except Exception:  # the vendor's driver is not installed here: no SQL, the rest still works
        yield None
        return
    if target.vendor != "sqlite":
        # Never the network: whatever Django would ask the server fails at once, and that
        # operation's SQL is reported as unavailable offline.
        wrapper_class = type(f"Offline{wrapper_class.__name__}", (wrapper_class,), {"get_new_connection": _refuse})
    connection = wrapper_class(_settings(engine, ":memory:" if target.vendor == "sqlite" else "offline"),
                               alias=ALIAS)
    overrides: dict[str, Any] = {"effective_default": _effective_default}
    if target.vendor == "postgresql":
        connection.__dict__["pg_version"] = int(target.version) * 10000
        overrides["execute"] = _postgresql_execute
    elif target.vendor in {"mysql", "mariadb"}:
        connection.__dict__["mysql_server_data"] = {
            "version": target.version, "sql_mode": "STRICT_TRANS_TABLES", "default_storage_engine": "InnoDB",
            "sql_auto_is_null": False, "lower_case_table_names": False, "has_zoneinfo_database": True,
        }
        overrides["_field_should_be_indexed"] = _mysql_field_should_be_indexed
    base = connection.SchemaEditorClass
    quote = _mysql_quote_value if target.vendor in {"mysql", "mariadb"} else base.quote_value
    overrides["quote_value"] = lambda self, value: (value.sql if isinstance(value, CallableDefault)
                                                    else quote(self, value))
    connection.SchemaEditorClass = type("OfflineSchemaEditor", (base,), overrides)
    previous = connections._connections.__dict__.get(ALIAS) if hasattr(connections, "_connections") else None
    connections[ALIAS] = connection
    try:
        yield connection
    finally:
        with contextlib.suppress(Exception):
            connection.close()
        if previous is not None:
            connections[ALIAS] = previous
        else:
            with contextlib.suppress(Exception):
                del connections[ALIAS]
