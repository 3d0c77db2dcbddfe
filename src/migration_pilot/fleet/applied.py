"""Every tenant's applied migrations in one round trip, and tenants grouped by what they have applied.

One catalog query finds the schemas that have a django_migrations table;
one UNION ALL over those tables reads every applied row. Tenants with the
same applied set share one plan, one compiled script and one lint pass.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db.migrations.loader import MigrationLoader

from migration_pilot.types import MigrationKey

Applied = frozenset[MigrationKey]


@dataclass(frozen=True, slots=True)
class FleetState:
    """Applied sets per tenant; tenants without a history table listed apart."""

    applied: dict[str, Applied]
    missing_history: tuple[str, ...] = ()


def read_schemas(cursor: Any, schemas: Sequence[str], quote: Any) -> FleetState:
    """Applied migrations of every schema in `schemas` (a DB-API cursor on PostgreSQL; two queries)."""
    if not schemas:
        return FleetState({})
    cursor.execute(
        "SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE c.relname = 'django_migrations' AND c.relkind IN ('r', 'p') AND n.nspname = ANY(%s)",
        [list(schemas)])
    present = {row[0] for row in cursor.fetchall()}
    applied: dict[str, set[MigrationKey]] = {schema: set() for schema in schemas if schema in present}
    if present:
        ordered = [schema for schema in schemas if schema in present]
        # The schema's position in the list, not its name, tags each row: no quoting of values needed.
        query = " UNION ALL ".join(f"SELECT {i}, app, name FROM {quote(schema)}.django_migrations"
                                   for i, schema in enumerate(ordered))
        cursor.execute(query)
        for index, app, name in cursor.fetchall():
            applied[ordered[index]].add((app, name))
    return FleetState({schema: frozenset(keys) for schema, keys in applied.items()},
                      tuple(schema for schema in schemas if schema not in present))


def effective(loader: MigrationLoader, rows: Iterable[MigrationKey]) -> Applied:
    """The applied set as Django's loader would see it: a squash counts as applied when all it replaces are."""
    applied = set(rows)
    for key, migration in loader.replacements.items():
        if all(tuple(replaced) in applied for replaced in migration.replaces):
            applied.add(key)
    return frozenset(applied)


def diverged(loader: MigrationLoader, applied: Applied) -> list[MigrationKey]:
    """Applied rows of apps with migrations on disk that the graph does not know (the tenant is ahead)."""
    on_disk = {app for app, _name in loader.disk_migrations}
    replaced = {tuple(r) for m in loader.replacements.values() for r in m.replaces}
    return sorted(key for key in applied
                  if key[0] in on_disk and key not in loader.graph.nodes and key not in replaced)


@dataclass
class Group:
    """Tenants sharing one applied set, so one plan."""

    applied: Applied
    tenants: list[str] = field(default_factory=list)


def group(state: dict[str, Applied]) -> list[Group]:
    """Tenants grouped by applied set, biggest group first (ties in first-seen order)."""
    groups: dict[Applied, Group] = {}
    for tenant, applied in state.items():
        groups.setdefault(applied, Group(applied)).tenants.append(tenant)
    return sorted(groups.values(), key=lambda g: -len(g.tenants))
