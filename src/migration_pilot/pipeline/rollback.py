"""run_rollback(): undo exactly what the last successful deploy applied, like a deploy.

Without --to, the migrations the last deploy recorded as applied are
unapplied newest first, across apps. A migration applied later that depends
on one of them makes the rollback refuse (use --to, which lets Django
compute the full backwards plan).
"""

from __future__ import annotations

from typing import Any

from migration_pilot.exceptions import MigrationLoadError
from migration_pilot.loader import executor_for
from migration_pilot.pipeline import history
from migration_pilot.pipeline.deploy import EXIT_REFUSED, DeployOptions, DeployResult, run_deploy
from migration_pilot.pipeline.events import Event, EventSink, ignore
from migration_pilot.pipeline.preflight import connect
from migration_pilot.types import MigrationKey


def last_deploy_migrations(alias: str) -> tuple[int, list[MigrationKey]] | None:
    """(run id, migrations it applied that are still applied, oldest first), or None."""
    from migration_pilot.models import DeployRun

    if not history.require_readable(alias):
        return None
    run = (DeployRun.objects.using(alias).filter(kind="deploy", outcome="succeeded")
           .exclude(plan=[]).order_by("-id").first())
    if run is None:
        return None
    applied = history.applied_now(alias)
    keys = [(m.app, m.name) for m in run.migrations.filter(outcome="applied", backwards=False)
            if (m.app, m.name) in applied]
    return (run.id, keys) if keys else None


def run_rollback(options: DeployOptions, *, emit: EventSink = ignore) -> DeployResult:
    """Unapply the last deploy's migrations (or go down to options.target)."""
    history.require_app()
    connection = connect(options.alias)
    if history.require_readable(options.alias):
        cleaned = _undo_dirty(connection, options.alias, emit)
        if cleaned is not None:
            return cleaned
    if not options.target:
        found = last_deploy_migrations(options.alias)
        if found is None:
            return DeployResult(EXIT_REFUSED, "refused",
                                f"Nothing to roll back: no successful deploy with migrations still applied"
                                f" is recorded on {options.alias}.")
        run_id, keys = found
        try:
            graph = executor_for(connection).loader.graph
        except MigrationLoadError as exc:
            return DeployResult(EXIT_REFUSED, "refused", f"Refused: {exc}")
        applied = history.applied_now(options.alias)
        chosen = set(keys)
        for key in keys:
            dependants = [child.key for child in graph.node_map[key].children
                          if child.key in applied and child.key not in chosen]
            if dependants:
                app, name = dependants[0]
                return DeployResult(EXIT_REFUSED, "refused",
                                    f"Cannot undo deploy #{run_id} alone: {app}.{name}, applied later,"
                                    f" depends on {key[0]}.{key[1]}. Use --to {key[0]} <migration>.")
        emit(Event("rollback_plan", f"Rolling back deploy #{run_id}: {len(keys)} migration(s)."))
        options.unapply = list(reversed(keys))
    return run_deploy(options, emit=emit)


def _undo_dirty(connection: Any, alias: str, emit: EventSink) -> DeployResult | None:
    """Undo exactly the journaled steps of half-applied migrations, then what their run applied."""
    from migration_pilot.pipeline import lock
    from migration_pilot.pipeline.journal import undo_steps

    dirty = history.dirty_migrations(alias)
    if not dirty:
        return None
    held = lock.acquire(connection, wait=30)
    try:
        for row in dirty:
            emit(Event("undo_steps", f"Undoing {row.steps_done} finished operation(s) of {row.app}.{row.name}"
                       f" from {row.run.kind} #{row.run_id}..."))
            try:
                undo_steps(connection, (row.app, row.name), row.steps_done)
            except Exception as exc:
                return DeployResult(4, "failed", f"Could not undo the finished operations of {row.app}.{row.name}:"
                                    f" {type(exc).__name__}: {exc}. The database stays dirty; fix it by hand.")
            history.clear_dirty(alias, (row.app, row.name))
    finally:
        held.release()
    run = dirty[0].run
    applied = history.applied_now(alias)
    keys = [(m.app, m.name) for m in run.migrations.filter(outcome="applied", backwards=False)
            if (m.app, m.name) in applied]
    if not keys:
        return DeployResult(0, "succeeded", f"Undid the half-applied migration of {run.kind} #{run.id};"
                            " the database is clean.")
    return None
