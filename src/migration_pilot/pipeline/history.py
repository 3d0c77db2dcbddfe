"""Run history in the deployed database (migration_pilot's own tables), and reading it back."""

from __future__ import annotations

import contextlib
import getpass
import os
import socket
from collections.abc import Sequence
from typing import Any

from django.apps import apps
from django.db import connections
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.recorder import MigrationRecorder
from django.utils import timezone

from migration_pilot.exceptions import PilotError

APP = "migration_pilot"


class HistoryUnavailableError(PilotError, RuntimeError):
    """Run history needs migration_pilot in INSTALLED_APPS."""

    def __str__(self) -> str:
        return (
            "The deploy pipeline records its runs in the database and needs 'migration_pilot' in"
            " INSTALLED_APPS. Add it, then run the command again."
        )


def require_app() -> None:
    """Fail when migration_pilot is not an installed app."""
    if not apps.is_installed(APP):
        raise HistoryUnavailableError()


def ensure_tables(alias: str, executor: MigrationExecutor | None = None) -> list[str]:
    """Apply migration_pilot's own migrations if needed; the names it applied now (empty: none needed).

    With `executor` (the deploy's own, so the graph is read once), its loader's
    applied set is brought up to date afterwards.
    """
    connection = connections[alias]
    executor = executor or MigrationExecutor(connection)
    leaves = [key for key in executor.loader.graph.leaf_nodes() if key[0] == APP]
    plan = executor.migration_plan(leaves)
    if not plan:
        return []
    executor.migrate(leaves)
    executor.loader.applied_migrations = executor.recorder.applied_migrations()
    return [migration.name for migration, _backwards in plan]


def tables_exist(alias: str) -> bool:
    """Whether the history tables exist in `alias` (read-only)."""
    connection = connections[alias]
    with connection.cursor() as cursor:
        return "migration_pilot_deployrun" in connection.introspection.table_names(cursor)


def own_migrations_pending(alias: str) -> list[str]:
    """migration_pilot's own migrations on disk that `alias` has not applied (read-only, cheap).

    A newer release of this package may add columns to the history tables;
    until its migrations run (any deploy runs them first), reading the tables
    with the new models would fail on the missing columns.
    """
    import pkgutil

    from migration_pilot import migrations as own

    on_disk = {info.name for info in pkgutil.iter_modules(own.__path__) if info.name[:4].isdigit()}
    applied = {name for app, name in MigrationRecorder(connections[alias]).applied_migrations() if app == APP}
    return sorted(on_disk - applied)


def readable(alias: str) -> bool:
    """Whether the history tables exist and match this release's models, so they can be queried."""
    return tables_exist(alias) and not own_migrations_pending(alias)


class HistoryOutdatedError(PilotError, RuntimeError):
    """The history tables predate this release; its own migrations must run first."""

    def __init__(self, alias: str, pending: Sequence[str]) -> None:
        self.alias, self.pending = alias, list(pending)

    def __str__(self) -> str:
        return (f"The run history tables in {self.alias!r} are older than this release of"
                f" django-migration-pilot ({', '.join(self.pending)} not applied). Apply them with"
                " 'python manage.py migrate migration_pilot' (any 'pilot deploy' does it first).")


def require_readable(alias: str) -> bool:
    """True when there is history to read, False when there is none yet; outdated tables raise."""
    if not tables_exist(alias):
        return False
    pending = own_migrations_pending(alias)
    if pending:
        raise HistoryOutdatedError(alias, pending)
    return True


def start_run(alias: str, kind: str, plan: Sequence[Any], options: dict[str, Any]) -> Any:
    """Record a run as running; returns the DeployRun.

    `kind` must be one of DeployRun.Kind: a kind outside the model's choices
    would be stored anyway and then shown raw by every reader of the history.
    """
    from migration_pilot.models import DeployRun

    if kind not in DeployRun.Kind.values:
        raise ValueError(f"unknown run kind {kind!r}; add it to DeployRun.Kind (and a migration)")
    try:
        user = getpass.getuser()
    except Exception:
        user = str(os.getuid())
    return DeployRun.objects.using(alias).create(
        kind=kind, started_at=timezone.now(), user=user[:150], host=socket.gethostname()[:255],
        pid=os.getpid(), alias=alias, plan=[list(key) for key in plan], options=options,
    )


def finish_run(run: Any, outcome: str, *, error: str = "", backup_id: str | None = None) -> None:
    """Record how a run ended."""
    run.outcome = outcome
    run.error = error
    run.finished_at = timezone.now()
    if backup_id is not None:
        run.backup_id = backup_id
    run.save(using=run._state.db)


def rerecord_run(alias: str, run: Any, migration_runs: Sequence[Any]) -> Any:
    """After a restore replaced the history tables, write this run (and its migrations) again.

    The backup was taken after the run was recorded, so the restored tables hold a copy of this run
    as 'running': it is replaced, under the same id, or the next deploy would take it for an
    interrupted run and "complete" it.
    """
    from migration_pilot.models import DeployRun, MigrationRun

    ensure_tables(alias)
    DeployRun.objects.using(alias).filter(id=run.id).delete()
    fields = {f.name: getattr(run, f.name) for f in DeployRun._meta.concrete_fields}
    new_run = DeployRun.objects.using(alias).create(**fields)
    for entry in migration_runs:
        values = {f.name: getattr(entry, f.name) for f in MigrationRun._meta.concrete_fields
                  if f.name not in {"id", "run"}}
        MigrationRun.objects.using(alias).create(run=new_run, **values)
    return new_run


def record_restore(alias: str, backup_id: str, *, note: str = "") -> tuple[Any, list[int]] | None:
    """Record a finished restore as a run of its own, written into the restored history.

    The restored history is the one of the backup's moment: a deploy or
    rollback that was running when the backup was taken comes back as
    `running`. It never resumes: it is closed here as superseded by this
    restore, so the next deploy neither reports it as interrupted nor
    "completes" it. Returns (the restore's run, ids of the runs closed), or
    None when the restored database has no usable history tables.
    """
    from migration_pilot.models import DeployRun

    try:
        if not readable(alias):
            return None
    except Exception:  # history tables of an older release of this tool: not ours to migrate here
        return None
    run = start_run(alias, DeployRun.Kind.RESTORE, [], {"note": note} if note else {})
    run.backup_id = backup_id
    finish_run(run, DeployRun.Outcome.SUCCEEDED, backup_id=backup_id)
    closed = []
    for stale in interrupted_runs(alias, current_id=run.id):
        stale.migrations.filter(outcome="running").update(outcome="interrupted", finished_at=timezone.now())
        finish_run(stale, DeployRun.Outcome.INTERRUPTED,
                   error=f"superseded by restore #{run.id} of backup {backup_id} (it was running when the"
                         " backup was taken; never resumed)")
        closed.append(stale.id)
    return run, closed


def interrupted_runs(alias: str, current_id: int | None = None) -> list[Any]:
    """Runs recorded as running: with the deploy lock held by us, they can only be dead."""
    from migration_pilot.models import DeployRun

    runs = DeployRun.objects.using(alias).filter(outcome=DeployRun.Outcome.RUNNING)
    if current_id is not None:
        runs = runs.exclude(id=current_id)
    return list(runs.order_by("id"))


def unfinished(run: Any) -> list[tuple[str, str]]:
    """The plan entries of `run` with no finished row, in plan order.

    Migrations that run in one transaction get their row only when they commit,
    so for a run that died the first of these is the one that was in flight (or
    about to start), and the database rolled it back.
    """
    finished = {(m.app, m.name) for m in run.migrations.all() if m.outcome in {"applied", "unapplied"}}
    return [(app, name) for app, name in run.plan if (app, name) not in finished]


def applied_now(alias: str) -> set[tuple[str, str]]:
    """Migrations recorded as applied in django_migrations right now."""
    return set(MigrationRecorder(connections[alias]).applied_migrations())


def duration_history(alias: str) -> dict[tuple[str, str, bool], float]:
    """Last successful duration per (app, name, backwards), for plan estimates; {} when unknown."""
    from migration_pilot.models import MigrationRun

    if not apps.is_installed(APP):
        return {}
    with contextlib.suppress(Exception):
        if not readable(alias):
            return {}
        # A `pilot rehearse` timing (outcome "rehearsed") counts until a real run of the migration replaces it.
        rows = (MigrationRun.objects.using(alias).filter(outcome__in=["rehearsed", "applied"], duration_s__isnull=False)
                .order_by("-outcome", "id").values_list("app", "name", "backwards", "duration_s"))
        return {(app, name, backwards): duration for app, name, backwards, duration in rows}
    return {}


def dirty_migrations(alias: str) -> list[Any]:
    """Journaled migrations that failed part-way and whose finished steps are still applied."""
    from migration_pilot.models import MigrationRun

    return list(MigrationRun.objects.using(alias).filter(dirty=True).select_related("run").order_by("-id"))


def clear_dirty(alias: str, key: tuple[str, str]) -> None:
    """The finished steps of `key` were undone: the database is clean again."""
    from migration_pilot.models import MigrationRun

    MigrationRun.objects.using(alias).filter(dirty=True, app=key[0], name=key[1]).update(
        dirty=False, outcome="undone")


def mark_interrupted(run: Any) -> None:
    """A dead run: its in-flight migration is dirty when steps of it had committed on their own.

    Only journaled migrations (no transactional DDL, or `atomic = False`) count steps.
    """
    for row in run.migrations.filter(outcome="running"):
        row.outcome = "interrupted"
        row.dirty = row.steps_done > 0
        row.save(using=row._state.db)
    finish_run(run, "interrupted", error="process ended without finishing")


def keep_defaults(run: Any, kept: Sequence[tuple[str, str, tuple[str, str]]]) -> None:
    """Record the defaults the online form kept in this run (for verify and `--phase post`)."""
    from migration_pilot.models import KeptDefault

    if not kept:
        return
    now = timezone.now()
    KeptDefault.objects.using(run._state.db).bulk_create(
        KeptDefault(run=run, table=table, column=column, migration=f"{key[0]}.{key[1]}", kept_at=now)
        for table, column, key in kept)


def kept_defaults(alias: str) -> list[Any]:
    """Kept defaults not dropped yet (oldest first); none when the history tables are not readable."""
    from migration_pilot.models import KeptDefault

    if not readable(alias):
        return []
    return list(KeptDefault.objects.using(alias).filter(dropped_at__isnull=True))
