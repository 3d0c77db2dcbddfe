"""Which migrations each configured database has applied, read from its `django_migrations`.

Every alias in settings.DATABASES is asked on a connection of its own (the alias's
backend, no pool, a 5 s connect timeout), so a server that does not answer is
reported as not checked instead of hanging the command. A SQLite file that does not
exist is never created: it has applied nothing.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.db import connections
from django.db.utils import load_backend

from migration_pilot.monitor.connection import monitor_settings, vendor_of
from migration_pilot.types import MigrationKey

TABLE = "django_migrations"
FLEET_TABLE = "migration_pilot_fleettenant"


@dataclass(frozen=True, slots=True)
class DatabaseState:
    """One alias (or one tenant schema of it): the migrations it has applied, or why it could not be read."""

    alias: str
    applied: frozenset[MigrationKey] | None
    problem: str = ""
    schema: str = ""

    @property
    def checked(self) -> bool:
        """Whether django_migrations (or its absence) was read."""
        return self.applied is not None

    @property
    def label(self) -> str:
        """How messages name it: 'default', or 'default' schema 'tenant_a'."""
        return f"{self.alias!r}" + (f" schema {self.schema!r}" if self.schema else "")


def known_databases(aliases: list[str] | None = None) -> list[DatabaseState]:
    """The applied migrations of each configured database (all aliases by default), in settings order.

    On PostgreSQL, the tenant schemas that `pilot deploy --fleet` recorded in the alias's run
    history follow their alias, each with its own django_migrations.
    """
    found: list[DatabaseState] = []
    for alias in (aliases if aliases is not None else list(connections.settings)):
        found.extend(_read(alias))
    return found


def _read(alias: str) -> list[DatabaseState]:
    _, params = monitor_settings(alias)
    vendor = vendor_of(params)
    name = str(params.get("NAME") or "")
    if vendor == "sqlite" and name != ":memory:" and not name.startswith("file:") \
            and not Path(name).exists():
        return [DatabaseState(alias, frozenset())]
    wrapper: Any = None
    try:
        wrapper = load_backend(params["ENGINE"]).DatabaseWrapper(copy.deepcopy(params), alias)
        wrapper.ensure_connection()
        with wrapper.cursor() as cursor:
            tables = set(wrapper.introspection.table_names(cursor))
            if TABLE not in tables:
                return [DatabaseState(alias, frozenset())]
            quote = wrapper.ops.quote_name
            cursor.execute(f"SELECT {quote('app')}, {quote('name')} FROM {quote(TABLE)}")
            states = [DatabaseState(alias, frozenset((str(a), str(n)) for a, n in cursor.fetchall()))]
            if vendor == "postgresql" and FLEET_TABLE in tables:
                states.extend(_fleet_schemas(cursor, alias, quote))
            return states
    except Exception as exc:  # any driver's connection or query error: the database was not read
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return [DatabaseState(alias, None, f"{type(exc).__name__}: {first}")]
    finally:
        if wrapper is not None:
            wrapper.close()


def _fleet_schemas(cursor: Any, alias: str, quote: Any) -> list[DatabaseState]:
    """The tenant schemas the run history of `alias` names, with their applied migrations."""
    from migration_pilot.fleet.applied import read_schemas

    cursor.execute(f"SELECT DISTINCT {quote('tenant')} FROM {quote(FLEET_TABLE)} WHERE {quote('alias')} = %s"
                   f" ORDER BY {quote('tenant')}", [alias])
    schemas = [str(row[0]) for row in cursor.fetchall() if str(row[0]) not in connections.settings]
    state = read_schemas(cursor, schemas, quote)
    return [DatabaseState(alias, state.applied.get(schema, frozenset()), schema=schema) for schema in schemas]


def describe_unchecked(states: list[DatabaseState]) -> list[str]:
    """One line per database that could not be read."""
    return [f"database {s.label} not checked ({s.problem})" for s in states if not s.checked]
