"""The SQL offline docs cannot write, collected on a scratch database (`pilot docs --shadow-database ALIAS`).

Some of Django's schema editor calls read a name from the database before they
write SQL (dropping a unique_together constraint looks its name up); offline,
docgen/collect.py reports that operation's SQL as needing the live database.
With an alias, and only when some operation needs it, a scratch database is
created on that alias's server (drift/shadow.py: the same server, a fresh
database, dropped afterwards whatever happens), the migrations up to each such
operation are applied to it, and the operation's SQL is collected there in
collect-SQL mode, as `sqlmigrate` does on a migrated database: forwards just
before it runs, backwards just after. The live database is only read (to copy
its schemas and extensions); nothing is applied to it, and while the scratch
database is migrated the project's own connections refuse to connect.
RunPython operations are not run on the scratch database (the schema is all
this needs, and Python code could reach another alias); Django's own
operations and RunSQL are.

Only those operations change: every other statement, note and page stays
byte-identical to the offline ones.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final

from django.db import connections
from django.db import migrations as dj_migrations
from django.db.migrations.state import ProjectState

from migration_pilot.analysis.walk import plan_order
from migration_pilot.docgen.collect import OperationFactsByMigration, Sql, operation_sql
from migration_pilot.loader import LoadedGraph
from migration_pilot.types import MigrationKey

NEEDS_LIVE: Final = "needs the live database"
NOTE: Final = "collected on a scratch database migrated to this point: Django reads a name from the database here"


@dataclass(frozen=True, slots=True)
class ScratchResult:
    """What `fill_from_scratch` did: operations filled, and why the others were not (None: all were)."""

    needed: int
    filled: int
    problem: str | None = None


def needs_live(sql: Sql) -> bool:
    """Whether offline collection gave up on this SQL because the schema editor wanted the database."""
    return not sql.statements and bool(sql.note) and str(sql.note).startswith(NEEDS_LIVE)


def fill_from_scratch(loaded: LoadedGraph, facts: OperationFactsByMigration, alias: str,
                      vendor: str) -> ScratchResult:
    """Replace, in `facts`, the SQL that needs the live database by SQL collected on a scratch database.

    `vendor` is the documented target's (lint vendor name); an alias of another
    vendor is not used. Connects only when some operation needs it.
    """
    wanted = {key: {op.index for op in ops if needs_live(op.forward) or needs_live(op.backward)}
              for key, ops in facts.items()}
    wanted = {key: indexes for key, indexes in wanted.items() if indexes}
    needed = sum(len(indexes) for indexes in wanted.values())
    if not needed:
        return ScratchResult(0, 0)
    from migration_pilot.drift.shadow import ShadowUnavailable, shadow_database
    from migration_pilot.exceptions import PilotError
    from migration_pilot.pipeline.preflight import connect, require_alias

    require_alias(alias)
    live = connections[alias]
    if live.vendor != vendor:
        return ScratchResult(needed, 0, f"the pages are written for {vendor} but {alias!r} is {live.vendor}")
    if live.vendor != "sqlite":  # SQLite's scratch database is in memory: its file is not even opened
        connect(alias)  # unreachable: one line naming the server, exit 2
    order = _ancestors_in_order(loaded, set(wanted))
    filled = [0]
    try:
        with shadow_database(live) as (shadow, _name), _swapped(alias, shadow):
            _walk(loaded, order, wanted, facts, shadow, filled)
    except (ShadowUnavailable, PilotError) as exc:
        return ScratchResult(needed, filled[0], f"no scratch database ({exc})")
    except _StepFailed as exc:
        return ScratchResult(needed, filled[0], str(exc))
    return ScratchResult(needed, filled[0])


class _StepFailed(Exception):
    """A migration could not be applied to the scratch database."""


def _ancestors_in_order(loaded: LoadedGraph, keys: set[MigrationKey]) -> list[MigrationKey]:
    needed: set[MigrationKey] = set()
    for key in keys:
        needed.update(loaded.graph.forwards_plan(key))
    return [key for key in plan_order(loaded) if key in needed]


@contextlib.contextmanager
def _swapped(alias: str, shadow: Any) -> Iterator[None]:
    """The alias is the scratch database for the duration; every other project connection refuses to connect."""
    from migration_pilot.docgen.offline import no_database_access

    with no_database_access():
        live = connections[alias]
        connections[alias] = shadow
        try:
            yield
        finally:
            connections[alias] = live


def _walk(loaded: LoadedGraph, order: list[MigrationKey], wanted: dict[MigrationKey, set[int]],
          facts: OperationFactsByMigration, shadow: Any, filled: list[int]) -> None:
    state = ProjectState(real_apps=set(loaded.loader.unmigrated_apps))
    for key in order:
        migration = loaded.graph.nodes[key]
        indexes = wanted.get(key, set())
        for index, operation in enumerate(migration.operations):
            before = state.clone()
            operation.state_forwards(key[0], state)
            fact = facts[key][index] if index in indexes else None
            if fact is not None and needs_live(fact.forward):
                fact.forward = _noted(operation_sql(shadow, operation, key[0], before, state, backwards=False))
            _apply(shadow, operation, key, index, before, state)
            if fact is not None and needs_live(fact.backward):
                fact.backward = _noted(operation_sql(shadow, operation, key[0], before, state, backwards=True))
            if fact is not None:
                filled[0] += 1


def _apply(shadow: Any, operation: Any, key: MigrationKey, index: int, before: ProjectState,
           after: ProjectState) -> None:
    """Run one operation on the scratch database (its deferred SQL too); RunPython is left out."""
    if isinstance(operation, dj_migrations.RunPython):
        return
    try:
        with shadow.schema_editor(atomic=shadow.features.can_rollback_ddl) as editor:
            operation.database_forwards(key[0], editor, before, after)
    except Exception as exc:
        reason = " ".join(str(exc).split())[:200] or type(exc).__name__
        raise _StepFailed(f"operation {index} of {key[0]}.{key[1]} failed on the scratch database: {reason}") \
            from exc


def _noted(sql: Sql) -> Sql:
    return Sql(sql.statements, NOTE) if sql.statements else sql
