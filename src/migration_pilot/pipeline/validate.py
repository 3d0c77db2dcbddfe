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
    graph_loader = _with_replacements(executor)
    squash = squash_refusal(graph_loader, connection)
    if squash:
        return squash
    for warning in squash_dependency_warnings(graph_loader):
        emit(Event("warning", warning))
    conflicts = graph_loader.detect_conflicts()
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
    missing = missing_migrations(graph_loader)
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


def squash_refusal(loader: Any, connection: Any) -> str | None:
    """The refusal when a squash is partly applied here and a migration it replaces is gone from disk (D5).

    Django then keeps using the replaced files, which are missing: the graph
    silently loses the squash and the rest of the replaced range, and the plan
    would be built over a half-known history. None when every squash is whole.
    """
    from django.db.migrations.recorder import MigrationRecorder

    recorded = set(MigrationRecorder(connection).applied_migrations())
    for key, migration in sorted(loader.disk_migrations.items()):
        replaced = list(migration.replaces or ())
        done = [old for old in replaced if old in recorded]
        gone = [old for old in replaced if old not in loader.disk_migrations]
        if done and len(done) < len(replaced) and gone:
            names = ", ".join(f"{a}.{n}" for a, n in gone)
            return (f"Refused: {key[0]}.{key[1]} replaces {len(replaced)} migration(s), of which this database"
                    f" applied {len(done)}, and {names} {'is' if len(gone) == 1 else 'are'} no longer on disk;"
                    " restore the replaced files from version control and keep them until every database has"
                    " applied them all.")
    return None


def squash_dependency_warnings(loader: Any) -> list[str]:
    """Migrations that still depend on a migration a squash replaces (D2): fine now, broken once it goes."""
    replaced_by = {old: key for key, m in loader.disk_migrations.items() for old in (m.replaces or ())}
    warnings = []
    for key, migration in sorted(loader.disk_migrations.items()):
        if migration.replaces:
            continue
        for parent in migration.dependencies:
            parent_key = tuple(parent)
            if parent_key in replaced_by and key not in replaced_by:
                squash = replaced_by[parent_key]
                warnings.append(f"Warning: {key[0]}.{key[1]} depends on {parent_key[0]}.{parent_key[1]}, which"
                                f" {squash[0]}.{squash[1]} replaces; point the dependency at the squash before"
                                " the replaced files are deleted, or loading the migrations fails then.")
    return warnings


def _with_replacements(executor: MigrationExecutor) -> Any:
    """The executor's loader, or a new one when it was rebuilt without squash replacements (D5).

    Django's migration_plan reloads the graph without replacements for a target
    that a squash replaced (a rollback to a replaced node). In that graph the
    squash and the last replaced migration are both leaves: judging conflicts
    there refuses every such rollback as conflicting, which `migrate` (judging
    with replacements, before planning) does not.
    """
    from django.db.migrations.loader import MigrationLoader

    if executor.loader.replace_migrations:
        return executor.loader
    return MigrationLoader(executor.connection)


def missing_migrations(executor_or_loader: Any) -> str:
    """What `makemigrations --check` reports, judged as lint's missing-migration rule judges it."""
    from migration_pilot.lint.rules.missing_migration import model_changes

    loader = getattr(executor_or_loader, "loader", executor_or_loader)
    changes = model_changes(loader.project_state(), loader.graph)
    return "; ".join(f"{app}: {op.describe()}" for app, ms in sorted(changes.items())
                     for m in ms for op in m.operations)[:300]
