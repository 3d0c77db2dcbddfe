"""The deploy's validate stage: everything that can refuse a plan before anything changes.

Judged with the live database in view and in this order, cheapest and most
decisive first: lint findings at --fail-on (scoped by the plan to tables
that exist and are not small), conflicting leaves, a database ahead of the
code, model changes without a migration; then warnings that cannot refuse
(applied migrations edited since), and last the sessions holding locks on
the planned tables, reported and waited for. A refusal is one line with the
fix; None means the plan may go on.
"""

from __future__ import annotations

from typing import Any

from django.db.migrations.executor import MigrationExecutor

from migration_pilot.pipeline import history
from migration_pilot.pipeline.events import Event, EventSink
from migration_pilot.pipeline.preflight import wait_for_blockers


def validate(plan: Any, options: Any, connection: Any, emit: EventSink,
             executor: MigrationExecutor) -> str | None:
    """The reason to refuse, or None. Judged with the live database in view."""
    online = bool(getattr(options, "online", False))
    after_release = getattr(options, "phase", "all") == "post"
    blocking = plan.blocking_findings(options.fail_on, online=online, after_release=after_release)
    for finding in plan.findings:
        handled = " (the deploy runs it in its online form instead)" if online and plan.handled_online(finding) else ""
        emit(Event("finding", f"   {finding.rule} [{finding.severity.label}] {finding.app}.{finding.migration}:"
                   f" {finding.message}{handled}"))
    if blocking:
        return (f"Refused: {len(blocking)} lint finding(s) at or above --fail-on in the plan"
                f" (first: {blocking[0].rule} in {blocking[0].app}.{blocking[0].migration})."
                " Fix the migrations, or suppress with a reason.")
    conflicts = executor.loader.detect_conflicts()
    if conflicts:
        app, names = sorted(conflicts.items())[0]
        return (f"Refused: conflicting migrations in {app} ({', '.join(sorted(names))});"
                f" run 'pilot fix-conflicts {app}' (or 'manage.py makemigrations --merge {app}').")
    ahead = [d for d in vanished_migrations(executor, connection) if installed(d.object.split(".")[0])]
    if ahead:
        names = ", ".join(d.object for d in ahead[:5]) + (f" and {len(ahead) - 5} more" if len(ahead) > 5 else "")
        return (f"Refused: this database has applied migrations that are not on disk ({names}): it is ahead"
                " of this code (an older release, or migration files deleted or renamed after deploying)."
                f" {ahead[0].fix}")
    missing = missing_migrations(executor)
    if missing:
        return f"Refused: models have changes no migration contains ({missing}); run 'manage.py makemigrations'."
    if history.readable(options.alias):
        from migration_pilot.pipeline.edits import edited_migrations

        edited = edited_migrations(options.alias, executor.loader)
        for change in edited[:5]:
            emit(Event("warning", f"Warning: {change.describe()}. Put changes in a new migration instead."))
        if len(edited) > 5:
            emit(Event("warning", f"Warning: {len(edited) - 5} more applied migration(s) changed on disk."))
    tables = {lock.table for m in plan.migrations for op in m.operations for lock in op.locks}
    remaining = wait_for_blockers(
        connection, tables, bound=options.blocker_wait,
        report=lambda found: emit(Event("blockers", "Sessions holding locks on planned tables (not killed):\n"
                                        + "\n".join(f"   {b.describe()}" for b in found))))
    if remaining:
        emit(Event("blockers", f"{len(remaining)} session(s) still hold locks; going on under the"
                   " lock timeout, which keeps traffic from queueing behind the migration."))
    return None


def vanished_migrations(executor: MigrationExecutor, connection: Any) -> list[Any]:
    """verify's "applied but gone from disk" findings (D6), from the same loader the plan used."""
    from migration_pilot.drift.history import history_differences

    return [d for d in history_differences(executor.loader, connection) if d.kind == "applied_migration_missing"]


def installed(app_label: str) -> bool:
    """Whether an app label is installed: rows of removed apps are Django's leftovers, not drift."""
    from django.apps import apps

    try:
        apps.get_app_config(app_label)
    except LookupError:
        return False
    return True


def missing_migrations(executor: MigrationExecutor) -> str:
    """What `makemigrations --check` reports, judged as lint's missing-migration rule judges it."""
    from migration_pilot.lint.rules.missing_migration import model_changes

    changes = model_changes(executor.loader.project_state(), executor.loader.graph)
    return "; ".join(f"{app}: {op.describe()}" for app, ms in sorted(changes.items())
                     for m in ms for op in m.operations)[:300]
