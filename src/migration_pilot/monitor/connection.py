"""The monitor's own database connection, built from an alias's settings.

Never the Django connection the migration runs on: that one is busy (and
owned by another thread) exactly when sampling matters. The new connection
goes through the alias's own backend class, so custom and PostGIS backends,
OPTIONS and passwords work as they do for the migration, but without a
connection pool, so it never takes a connection from the application's.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any, Final

from django.db import connections
from django.db.utils import ConnectionHandler, load_backend

from migration_pilot.exceptions import UnknownDatabaseError
from migration_pilot.monitor.watch import MONITOR_APPLICATION

_CONNECT_TIMEOUT_S: Final = 5


def monitor_settings(database: str | Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """(alias, settings) for the monitor's connection: a copy of the alias's, without a pool."""
    if isinstance(database, str):
        if database not in connections.settings:
            raise UnknownDatabaseError(database, known=connections.settings)
        params = copy.deepcopy(connections[database].settings_dict)
        alias = database
    else:
        params = copy.deepcopy(ConnectionHandler({"default": dict(database)}).settings["default"])
        alias = "custom"
    options = dict(params.get("OPTIONS") or {})
    options.pop("pool", None)
    if vendor_of(params) in {"postgresql", "mysql"}:
        # A server that does not answer must not hang the sampler (nor stop(), which joins it).
        options.setdefault("connect_timeout", _CONNECT_TIMEOUT_S)
    params["OPTIONS"] = options
    params["CONN_MAX_AGE"] = 0
    params["CONN_HEALTH_CHECKS"] = False
    return alias, params


def vendor_of(params: Mapping[str, Any]) -> str:
    """'postgresql', 'mysql', 'sqlite', ... from the ENGINE, without connecting."""
    return str(load_backend(params["ENGINE"]).DatabaseWrapper.vendor)


def open_connection(alias: str, params: Mapping[str, Any]) -> Any:
    """A new, connected Django DatabaseWrapper for the calling thread (autocommit on)."""
    settings = copy.deepcopy(dict(params))
    if vendor_of(settings) == "postgresql":
        settings["OPTIONS"]["application_name"] = MONITOR_APPLICATION
    wrapper = load_backend(settings["ENGINE"]).DatabaseWrapper(settings, f"{alias} ({MONITOR_APPLICATION})")
    wrapper.ensure_connection()
    if not wrapper.get_autocommit():
        wrapper.set_autocommit(True)
    return wrapper


def server_version(wrapper: Any) -> Any:
    """PostgreSQL: server_version_num as int; MySQL: the VERSION() string."""
    with wrapper.connection.cursor() as cursor:
        if wrapper.vendor == "postgresql":
            cursor.execute("SHOW server_version_num")
            return int(cursor.fetchone()[0])
        cursor.execute("SELECT VERSION()")
        return str(cursor.fetchone()[0])


def session_id(connection: Any) -> int | None:
    """The server's id for a Django connection's session: what `ImpactMonitor(watch=...)` takes.

    PostgreSQL: the backend pid; MySQL/MariaDB: the connection id (KILL QUERY's
    argument); None for SQLite. Read in the thread that owns the connection,
    before its migration starts (drivers refuse calls from another thread
    while a query runs), and again after a reconnect (then `monitor.watch()`).
    """
    if connection.vendor not in {"postgresql", "mysql"}:
        return None
    connection.ensure_connection()
    raw = connection.connection
    if connection.vendor == "mysql":
        return int(raw.thread_id())
    info = getattr(raw, "info", None)  # psycopg 3
    return int(info.backend_pid) if info is not None else int(raw.get_backend_pid())
