"""Every tenant's applied migrations in a few round trips, and tenants grouped by what they have applied.

One catalog query finds the schemas that have a django_migrations table.
Then each schema's history is read as one fingerprint (the md5 of its sorted
rows), and only one schema per distinct fingerprint has its rows read: a
thousand tenants at the same point cost a thousand short strings, not a
thousand copies of the history. Both reads are UNION ALLs cut into chunks of
`CHUNK` schemas: PostgreSQL's planning time grows faster than the number of
branches (one UNION ALL over 1,000 tables took 0.6 s to plan from a new
connection; 20 of 50 took 0.13 s in all). Tenants with the same applied set
share one plan, one compiled script and one lint pass.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from django.db.migrations.loader import MigrationLoader

from migration_pilot.types import MigrationKey

Applied = frozenset[MigrationKey]
CHUNK: Final = 50
"""Schemas per UNION ALL statement."""
# App labels and migration names are Python identifiers: '.' and ',' cannot occur in them, so the joined
# string stands for one set of rows. A history with odd rows only gets a fingerprint of its own (its rows
# are then read as they are).
FINGERPRINT: Final = "md5(string_agg(app || '.' || name, ',' ORDER BY app, name)) || ':' || count(*)"


@dataclass(frozen=True, slots=True)
class FleetState:
    """Applied sets per tenant (one shared frozenset per distinct set); tenants without a history table apart."""

    applied: dict[str, Applied]
    missing_history: tuple[str, ...] = ()


def read_schemas(cursor: Any, schemas: Sequence[str], quote: Any) -> FleetState:
    """Applied migrations of every schema in `schemas` (a DB-API cursor on PostgreSQL)."""
    if not schemas:
        return FleetState({})
    cursor.execute(
        "SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE c.relname = 'django_migrations' AND c.relkind IN ('r', 'p') AND n.nspname = ANY(%s)",
        [list(schemas)])
    present = {row[0] for row in cursor.fetchall()}
    ordered = [schema for schema in schemas if schema in present]
    # The schema's position in the list, not its name, tags each row: no quoting of values needed.
    fingerprints = dict(_union(cursor, ordered, quote, f"{FINGERPRINT} FROM {{table}}"))
    representative: dict[str, int] = {}
    for index in sorted(fingerprints):
        representative.setdefault(fingerprints[index], index)
    chosen = sorted(representative.values())
    rows: dict[int, set[MigrationKey]] = {index: set() for index in chosen}
    for index, app, name in _union(cursor, [ordered[i] for i in chosen], quote, "app, name FROM {table}",
                                   positions=chosen):
        rows[index].add((app, name))
    sets = {fingerprints[index]: frozenset(keys) for index, keys in rows.items()}
    return FleetState({schema: sets[fingerprints[i]] for i, schema in enumerate(ordered)},
                      tuple(schema for schema in schemas if schema not in present))


def _union(cursor: Any, schemas: Sequence[str], quote: Callable[[str], str], select: str,
           positions: Sequence[int] | None = None) -> Iterable[tuple[Any, ...]]:
    """`SELECT <position>, <select>` over each schema's django_migrations, CHUNK schemas per statement."""
    tags = list(positions) if positions is not None else list(range(len(schemas)))
    for start in range(0, len(schemas), CHUNK):
        cursor.execute(" UNION ALL ".join(
            f"SELECT {tag}, {select.format(table=quote(schema) + '.django_migrations')}"
            for tag, schema in zip(tags[start:start + CHUNK], schemas[start:start + CHUNK], strict=True)))
        yield from cursor.fetchall()


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
