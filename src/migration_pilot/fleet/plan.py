"""The fleet's plan: every tenant's applied set read at once, grouped, each group compiled once."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from django.db import connections
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.recorder import MigrationRecorder

from migration_pilot.fleet.applied import Applied, diverged, effective, group, read_schemas
from migration_pilot.fleet.compile import Script, compile_script, in_schema, plan_for
from migration_pilot.fleet.discovery import Fleet
from migration_pilot.types import MigrationKey


@dataclass
class GroupPlan:
    """Tenants with the same applied set and the one script that brings them to the target."""

    applied: Applied
    tenants: list[str]
    script: Script


@dataclass
class FleetPlan:
    """Where every tenant stands and what each group will run."""

    fleet: Fleet
    targets: list[MigrationKey]
    groups: list[GroupPlan] = field(default_factory=list)
    at_head: list[str] = field(default_factory=list)
    missing_history: list[str] = field(default_factory=list)
    diverged: dict[str, list[MigrationKey]] = field(default_factory=dict)
    read_s: float = 0.0
    compile_s: float = 0.0

    @property
    def pending(self) -> list[str]:
        """Tenants with migrations to apply, in fleet order."""
        wanted = {t for g in self.groups for t in g.tenants}
        order = self.fleet.aliases or self.fleet.schemas
        return [t for t in order if t in wanted]

    def script_for(self) -> dict[str, Script]:
        """Each pending tenant's script."""
        return {t: g.script for g in self.groups for t in g.tenants}

    @property
    def keys(self) -> list[MigrationKey]:
        """Every migration some tenant will apply, in first-seen plan order."""
        seen: dict[MigrationKey, None] = {}
        for g in self.groups:
            seen.update(dict.fromkeys(g.script.keys))
        return list(seen)


def build_fleet_plan(connection: Any, executor: MigrationExecutor, fleet: Fleet, *,
                     compile_sql: bool = True) -> FleetPlan:
    """Read, group and (with `compile_sql`) compile; `connection` is the fleet alias's Django connection."""
    targets = list(executor.loader.graph.leaf_nodes())
    plan = FleetPlan(fleet, targets)
    started = time.monotonic()
    if fleet.aliases:
        rows = {alias: frozenset(MigrationRecorder(connections[alias]).applied_migrations())
                for alias in fleet.aliases if MigrationRecorder(connections[alias]).has_table()}
        plan.missing_history = [alias for alias in fleet.aliases if alias not in rows]
    else:
        with connection.cursor() as cursor:
            state = read_schemas(cursor, fleet.schemas, connection.ops.quote_name)
        rows, plan.missing_history = state.applied, list(state.missing_history)
    plan.read_s = time.monotonic() - started
    applied: dict[str, Applied] = {}
    # Judged once per distinct applied set, not per tenant: most tenants share a handful of sets.
    judged: dict[Applied, tuple[list[MigrationKey], Applied]] = {}
    for tenant, keys in rows.items():
        if keys not in judged:
            judged[keys] = (diverged(executor.loader, keys), effective(executor.loader, keys))
        ahead, seen = judged[keys]
        if ahead:
            plan.diverged[tenant] = ahead
        else:
            applied[tenant] = seen
    started = time.monotonic()
    for found in group(applied):
        script = plan_for(executor, found.applied, targets)
        if not script.keys:
            plan.at_head.extend(found.tenants)
            continue
        if compile_sql and not fleet.aliases:
            with in_schema(connection, found.tenants[0], fleet.shared_schemas):
                compile_script(connection, executor, found.applied, script)
        plan.groups.append(GroupPlan(found.applied, found.tenants, script))
    plan.compile_s = time.monotonic() - started
    return plan
