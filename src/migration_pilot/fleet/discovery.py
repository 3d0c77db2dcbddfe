"""Which tenants make up the fleet: PostgreSQL schemas of one alias, or several DATABASES aliases.

Schemas come, in this order, from `MIGRATION_PILOT["fleet"]` (`"schemas"`: a
callable or its dotted path returning schema names, or `"sql"`: a query whose
first column is the schema name), from django-tenants (its tenant model's
`schema_name`, the public schema left out), or from django-pgschemas (its static
tenants in TENANTS, its clone reference, and its tenant model's `schema_name`).
Neither package's migrate command is imported.
Aliases come from `--database all` or a list, kept when the routers allow
migrating at least one app with migrations there.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.apps import apps
from django.conf import settings
from django.db import connections, router
from django.utils.module_loading import import_string

from migration_pilot.exceptions import ConfigError

SETTING = "settings.MIGRATION_PILOT['fleet']"


@dataclass(frozen=True, slots=True)
class Fleet:
    """The tenants to deploy: schemas of one alias (`schemas`), or whole aliases (`aliases`)."""

    source: str
    alias: str = "default"
    schemas: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    shared_schemas: tuple[str, ...] = field(default=())
    """Schemas put after the tenant's on its search_path (django-tenants: the public schema)."""

    @property
    def size(self) -> int:
        """How many tenants."""
        return len(self.aliases) if self.aliases else len(self.schemas)


def fleet_setting() -> Mapping[str, Any]:
    """The `fleet` table of settings.MIGRATION_PILOT (key case ignored), {} when absent."""
    value = getattr(settings, "MIGRATION_PILOT", None)
    if not isinstance(value, Mapping):
        return {}
    table = value.get("fleet", value.get("FLEET"))
    if table is None:
        return {}
    if not isinstance(table, Mapping):
        raise ConfigError("'fleet' must be a dict with 'schemas' or 'sql'", source=SETTING)
    return {str(key).lower(): val for key, val in table.items()}


def discover(alias: str = "default", *, databases: Sequence[str] | None = None,
             only: Sequence[str] | None = None) -> Fleet:
    """The fleet for `alias` (schemas), or for `databases` (aliases; ['all'] for every allowed alias)."""
    if databases:
        return Fleet("databases", alias=alias, aliases=tuple(allowed_aliases(databases)))
    connection = connections[alias]
    if connection.vendor != "postgresql":
        raise ConfigError(f"A schema fleet needs PostgreSQL; {alias!r} is {connection.vendor}. For one database"
                          " per tenant give '--database all' or a comma-separated list of aliases",
                          source="--fleet")
    source, schemas, shared = _schemas(alias)
    if only is not None:
        unknown = sorted(set(only) - set(schemas))
        if unknown:
            raise ConfigError(f"Not tenant schemas of the fleet: {', '.join(unknown)}", source="--schemas")
        schemas = [s for s in schemas if s in set(only)]
    return Fleet(source, alias=alias, schemas=tuple(_unique(schemas)), shared_schemas=tuple(shared))


def _schemas(alias: str) -> tuple[str, list[str], list[str]]:
    table = fleet_setting()
    if "schemas" in table:
        return SETTING + "['schemas']", _from_callable(table["schemas"]), []
    if "sql" in table:
        return SETTING + "['sql']", _from_sql(alias, table["sql"]), []
    if apps.is_installed("django_tenants"):
        return "django-tenants", *_django_tenants(alias)
    if apps.is_installed("django_pgschemas"):
        return "django-pgschemas", *_django_pgschemas(alias)
    raise ConfigError("No tenant schemas to deploy to: set MIGRATION_PILOT['fleet'] = {'schemas': <callable or"
                      " dotted path>} or {'sql': 'select schema_name from ...'}, or install django-tenants or"
                      " django-pgschemas", source="--fleet")


def _from_callable(value: Any) -> list[str]:
    where = SETTING + "['schemas']"
    if isinstance(value, str):
        try:
            value = import_string(value)
        except ImportError as exc:
            raise ConfigError(f"Cannot import {value!r}: {exc}", source=where) from None
    if isinstance(value, list | tuple):
        found: Iterable[Any] = value
    elif callable(value):
        found = _call(value, where)
    else:
        raise ConfigError(f"Give a callable, its dotted path or a list, not {value!r}", source=where)
    names = list(found)
    if not all(isinstance(name, str) and name for name in names):
        raise ConfigError("The schema names must be non-empty strings", source=where)
    return names


def _call(function: Callable[[], Iterable[Any]], where: str) -> Iterable[Any]:
    try:
        return function()
    except Exception as exc:
        raise ConfigError(f"Listing the schemas failed: {type(exc).__name__}: {exc}", source=where) from None


def _from_sql(alias: str, query: Any) -> list[str]:
    where = SETTING + "['sql']"
    if not isinstance(query, str) or not query.strip():
        raise ConfigError("Give a query whose first column is the schema name", source=where)
    try:
        with connections[alias].cursor() as cursor:
            cursor.execute(query)
            return [str(row[0]) for row in cursor.fetchall()]
    except Exception as exc:
        raise ConfigError(f"The query failed: {str(exc).splitlines()[0]}", source=where) from None


def _django_tenants(alias: str) -> tuple[list[str], list[str]]:
    utils = importlib.import_module("django_tenants.utils")  # optional: not a dependency of ours
    public = utils.get_public_schema_name()
    names = utils.get_tenant_model().objects.using(alias).order_by("pk").values_list("schema_name", flat=True)
    return [name for name in names if name != public], [public]


def _django_pgschemas(alias: str) -> tuple[list[str], list[str]]:
    """Every schema django-pgschemas migrates but public: static tenants, the clone reference, dynamic tenants.

    Its own commands' "all schemas" are the TENANTS keys but 'default', the
    clone reference, and the tenant model's rows; public holds the shared apps
    and goes on the search path after each tenant's schema, with
    PGSCHEMAS_EXTRA_SEARCH_PATHS, as its backend sets it.
    """
    tenants = getattr(settings, "TENANTS", None)
    if not isinstance(tenants, Mapping):
        raise ConfigError("django-pgschemas is installed but settings.TENANTS is not a dict; list the schemas with"
                          " MIGRATION_PILOT['fleet'] instead", source="settings.TENANTS")
    default = tenants.get("default") or {}
    names = [str(name) for name in tenants if name not in ("public", "default")]
    if default.get("CLONE_REFERENCE"):
        names.append(str(default["CLONE_REFERENCE"]))
    if default.get("TENANT_MODEL"):
        model = apps.get_model(default["TENANT_MODEL"])
        names.extend(str(n) for n in model.objects.using(alias).order_by("pk").values_list("schema_name", flat=True))
    elif not names:
        raise ConfigError("django-pgschemas is installed but TENANTS has no static tenant and no"
                          " ['default']['TENANT_MODEL']; list the schemas with MIGRATION_PILOT['fleet'] instead",
                          source="settings.TENANTS")
    extra = [str(s) for s in getattr(settings, "PGSCHEMAS_EXTRA_SEARCH_PATHS", [])]
    return [name for name in names if name != "public"], ["public", *extra]


def allowed_aliases(requested: Sequence[str]) -> list[str]:
    """`requested` aliases (['all']: every alias in DATABASES) where the routers allow some app's migrations."""
    known = list(connections.settings)
    wanted = known if list(requested) == ["all"] else list(requested)
    unknown = [alias for alias in wanted if alias not in known]
    if unknown:
        raise ConfigError(f"Unknown database alias(es) {', '.join(unknown)}; DATABASES has"
                          f" {', '.join(known)}", source="--database")
    labels = [config.label for config in apps.get_app_configs() if config.label != "migration_pilot"]
    return [alias for alias in wanted if any(router.allow_migrate(alias, label) for label in labels)]


def _unique(names: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    return [n for n in names if not (n in seen or seen.add(n))]  # type: ignore[func-returns-value]
