"""run_deploy(): the runbook's migration_job as one guarded pipeline.

validate -> backup -> apply (lock, timeouts, retries) -> verify; on failure,
roll back this run's migrations, restore the pre-deploy backup, or stop, and
prove where the database ended up. Exit codes are part of the contract:
0 deployed, 1 refused by validation (nothing changed), 2 usage/configuration,
3 failed and back at the pre-deploy state (verified), 4 failed and not fully
back: the message says what a person must do.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from migration_pilot.conf import Config, load_config
from migration_pilot.diagnostics import Severity
from migration_pilot.exceptions import MigrationLoadError, PilotError
from migration_pilot.loader import executor_for
from migration_pilot.pipeline import history, lock, session_report
from migration_pilot.pipeline.apply import (
    ApplyReport,
    MigrationResult,
    Recorder,
    Retry,
    apply_backwards,
    apply_forwards,
)
from migration_pilot.pipeline.events import Event, EventSink, ignore
from migration_pilot.pipeline.fingerprint import fingerprint_difference, schema_fingerprint
from migration_pilot.pipeline.interrupt import DeployInterrupted, interruptible, mysql_canceller
from migration_pilot.pipeline.preflight import (
    connect,
    lock_holders,
    named_session,
    orphaned_backends,
    wait_until_gone,
)
from migration_pilot.pipeline.timeouts import Timeouts
from migration_pilot.pipeline.validate import installed, validate
from migration_pilot.types import MigrationKey

EXIT_DEPLOYED = 0
EXIT_REFUSED = 1
EXIT_USAGE = 2
EXIT_ROLLED_BACK = 3
EXIT_NEEDS_PERSON = 4


@dataclass
class DeployOptions:
    """Everything `pilot deploy` takes."""

    alias: str = "default"
    target: Sequence[str] | None = None
    dry_run: bool = False
    fail_on: int = Severity.ERROR
    backup: bool = True
    backup_dir: Path | None = None
    timeouts: Timeouts = field(default_factory=lambda: Timeouts(lock=None, statement=0.0))
    retry: Retry = field(default_factory=Retry)
    online: bool = True
    monitor: bool = True
    max_blocked: float | None = None
    phase: str = "all"
    """'all', 'pre' (hold back post-deploy migrations) or 'post' (only those; see pipeline/phases.py)."""
    wait: float = 30.0
    blocker_wait: float = 10.0
    on_failure: str = "rollback"
    verify: bool = True
    checks: list[str] = field(default_factory=list)
    """Post-deploy check commands (pipeline/checks.py), run after verify; a failing one fails the deploy."""
    check_timeout: float = 120.0
    maintain: bool = True
    """After a successful forwards deploy: ANALYZE the existing tables it changed (maintain/after_deploy.py)."""
    kind: str = "deploy"
    unapply: list[MigrationKey] | None = None
    discard_writes: bool = False
    """--on-failure restore even when other sessions wrote since the apply started (their writes are lost)."""
    before_apply: Any = None
    """Called with the plan under the lock before anything is recorded or changed; a returned line refuses."""


@dataclass
class DeployResult:
    """How a deploy ended, in one exit code and one line, plus the details."""

    exit_code: int
    outcome: str
    message: str
    run_id: int | None = None
    applied: list[MigrationResult] = field(default_factory=list)
    backup_id: str | None = None
    plan: Any = None
    duration_s: float = 0.0


def run_deploy(options: DeployOptions, *, emit: EventSink = ignore,
               config: Config | None = None) -> DeployResult:
    """Run the pipeline for one alias; raises PilotError only for usage/configuration problems."""
    from migration_pilot.plan.build import build_plan

    started = time.monotonic()
    config = config or load_config()
    history.require_app()
    connection = connect(options.alias)
    options.timeouts = options.timeouts.for_vendor(connection.vendor)
    options.timeouts.validate()
    lock.check_not_pooled(connection)
    verb = "Rolling back" if options.kind == "rollback" else "Deploying to"
    online = " online form for unsafe DDL," if options.online and connection.vendor == "postgresql" else ""
    emit(Event("settings", f"{verb} {options.alias} ({connection.vendor}):{online} lock timeout"
               f" {_fmt(options.timeouts.lock or 0)}, statement timeout {_fmt(options.timeouts.statement)},"
               f" {_retries(options.retry)} on lock timeout, on failure: {options.on_failure}."))
    if not options.timeouts.lock:
        emit(Event("warning", "Warning: no lock timeout: a blocked ALTER can queue all traffic behind it."))
    server = session_report.server_timeouts(connection)
    shown = session_report.describe_server_timeouts(server)
    if shown:
        emit(Event("server_settings", shown, {"settings": dict(server)}))
    superuser = session_report.superuser_warning(connection)
    if superuser:
        emit(Event("warning", superuser))
    held = lock.acquire(connection, wait=options.wait)
    emit(Event("locked", "Holding the deploy lock."))
    canceller = mysql_canceller(connection) if connection.vendor == "mysql" else None
    try:
        with interruptible(canceller), named_session(connection, options.kind):
            try:
                result = _run_locked(options, config, connection, emit, build_plan)
            except DeployInterrupted as stop:  # before the run was recorded: nothing was changed
                result = DeployResult(stop.signum + 128, "interrupted",
                                      f"Interrupted by {stop.signal_name} before anything was changed.")
    finally:
        released = held.release()
    if not released:
        emit(Event("warning", "Warning: the database did not confirm releasing the deploy lock (the lock"
                   " session was lost or replaced); it is free now that its connection is closed, but check"
                   " that nothing between this host and the database pools sessions."))
    result.duration_s = time.monotonic() - started
    return result


@contextlib.contextmanager
def _impact_monitor(options: DeployOptions, connection: Any, emit: EventSink, plan: Any) -> Iterator[Any]:
    """The impact monitor watching the migration's session (PostgreSQL, MySQL); None where it cannot run.

    Only when the plan touches tables that existed before the deploy: tables it creates have no traffic
    to block (a deploy from zero samples nothing).
    """
    touches_live = any(entry.tables for entry in plan.migrations)
    if not options.monitor or connection.vendor not in {"postgresql", "mysql"} or not touches_live:
        yield None
        return
    from migration_pilot.monitor import ImpactMonitor, session_id

    pid = session_id(connection)

    def tripped(trip: Any) -> None:
        emit(Event("breaker", f"   circuit breaker: session {trip.blocked_pid} waited {trip.waited_s:.2f}s on the"
                   f" migration (over --max-blocked); its statement was cancelled and will be retried"))

    monitor = ImpactMonitor(options.alias, watch=pid, max_blocked=options.max_blocked, on_trip=tripped)
    with monitor:
        yield monitor


def _retries(retry: Retry) -> str:
    """"3 retries" or "retries for up to 5min": how lock timeouts are retried."""
    if retry.attempts is not None:
        return f"{retry.attempts} retries"
    return f"retries for up to {_fmt(retry.budget)}" if retry.budget else "unlimited retries"


def _fmt(seconds: float) -> str:
    from migration_pilot.pipeline.durations import format_duration

    return format_duration(seconds)


def _run_locked(options: DeployOptions, config: Config, connection: Any, emit: EventSink,
                build_plan: Any) -> DeployResult:
    alias = options.alias
    orphans = wait_until_gone(
        lambda: orphaned_backends(connection), bound=options.blocker_wait,
        report=lambda found: emit(Event("orphans", "An earlier deploy died while the server went on running its"
                                        " statement (waiting for it, never killed):\n"
                                        + "\n".join(f"   {b.describe()}" for b in found))))
    if orphans:
        pids = ", ".join(str(b.pid) for b in orphans)
        return DeployResult(EXIT_REFUSED, "refused",
                            f"Refused: the server is still running a statement of an earlier, dead deploy (pid {pids});"
                            " it holds that deploy's locks and may still commit. Wait for it, or cancel it with"
                            f" SELECT pg_cancel_backend({orphans[0].pid}), then deploy again.")
    # One executor (one read of the graph and of django_migrations) for history, plan, checks and apply.
    try:
        executor = executor_for(connection)
    except MigrationLoadError as exc:
        return DeployResult(EXIT_REFUSED, "refused", f"Refused: {exc}")
    from migration_pilot.pipeline.privileges import deploy_refusal, reverse_drops

    # Before the history tables are created or upgraded; otherwise checked with the plan's tables below.
    lacking = deploy_refusal(connection, set(), options.kind) if history.own_migrations_pending(alias) else None
    if lacking:
        return DeployResult(EXIT_REFUSED, "refused", lacking)
    own = history.ensure_tables(alias, executor) if not options.dry_run else []
    if own:
        verb = "Created" if own[0].startswith("0001") else "Upgraded"
        emit(Event("history", f"{verb} the run history tables (migration_pilot {', '.join(own)})."))
    # Read once: in a dry run on outdated tables there is nothing to read.
    has_history = history.readable(alias)
    if has_history:
        for run in history.interrupted_runs(alias):
            emit(Event("interrupted", f"Found interrupted {run.kind} #{run.id} (pid {run.pid} on {run.host},"
                       f" started {run.started_at:%Y-%m-%d %H:%M:%S}): {_interrupted_at(run)}."
                       " Completing it now from the current state."))
            if not options.dry_run:
                history.mark_interrupted(run)
    if has_history and options.kind != "rollback":
        dirty = history.dirty_migrations(alias)
        if dirty:
            row = dirty[0]
            message = (f"Refused: the database is dirty: {row.app}.{row.name} failed after {row.steps_done}"
                       f" operation(s) in {row.run.kind} #{row.run_id} and those stayed applied (each"
                       " committed on its own). Run 'pilot rollback' to undo exactly those steps first.")
            return DeployResult(EXIT_REFUSED, "refused", message)
    try:
        plan = build_plan(alias, target=options.target, config=config, with_sql=False,
                          history=history.duration_history(alias), unapply=options.unapply,
                          executor=executor)
    except MigrationLoadError as exc:
        return DeployResult(EXIT_REFUSED, "refused", f"Refused: {exc}")
    refused = _phase(plan, options, executor, emit)
    if refused:
        return DeployResult(EXIT_REFUSED, "refused", refused, plan=plan)
    keys = [m.key for m in plan.migrations]
    emit(Event("planned", f"Plan: {len(keys)} migration(s) to {'unapply' if plan.backwards else 'apply'}.",
               {"plan": [list(k) for k in keys]}))
    irreversible = [m.key for m in plan.migrations if not m.backwards and not m.reversible]
    if irreversible and options.on_failure == "rollback":
        # Said before anything runs (E1): a person choosing how to recover needs it now, not at 3 a.m.
        emit(Event("warning", f"Warning: {_keys(irreversible)} cannot be unapplied: if the deploy fails after"
                   " it, the rollback stops there (exit 4); '--on-failure restore' restores the pre-deploy"
                   " backup instead."))
    drops = reverse_drops(executor, plan) if plan.backwards else frozenset()
    lacking = deploy_refusal(connection, _touched_tables(plan), options.kind, drops=drops)
    if lacking:  # not recorded: the role could not write the record
        return DeployResult(EXIT_REFUSED, "refused", lacking, plan=plan)
    refusal = validate(plan, options, connection, emit, executor)
    gate = options.before_apply(plan) if options.before_apply is not None and not refusal else None
    if gate:  # e.g. a rollback that would lose data, without consent: refused before it is recorded
        return DeployResult(EXIT_REFUSED, "refused", gate, plan=plan)
    if options.dry_run:
        code = EXIT_REFUSED if refusal else EXIT_DEPLOYED
        return DeployResult(code, "dry-run", refusal or "Dry run: validation passed; nothing was changed.",
                            plan=plan)
    if not keys and not refusal:  # nothing happened: no run to record
        executor.check_replacements()  # as migrate does: a squash whose replaced migrations are applied is recorded
        if options.checks and options.phase != "post":  # post runs them after its contract step (contract.py)
            from migration_pilot.pipeline.checks import run_checks

            failed = run_checks(options.checks, timeout=options.check_timeout, emit=emit)
            if failed:
                return DeployResult(EXIT_ROLLED_BACK, "failed", f"Nothing to deploy, but the post-deploy {failed};"
                                    " nothing was changed.", plan=plan)
        return DeployResult(EXIT_DEPLOYED, "succeeded", "Nothing to deploy: every migration is applied.", plan=plan)
    run = history.start_run(alias, options.kind, keys, _options_json(options))
    try:
        return _run_recorded(options, connection, emit, executor, plan, run, refusal)
    except DeployInterrupted as stop:
        return _interrupted(connection, run, stop)


def _phase(plan: Any, options: DeployOptions, executor: MigrationExecutor, emit: EventSink) -> str | None:
    """Narrow the plan to `options.phase` (in place); the refusal, if the phase cannot run now."""
    from migration_pilot.pipeline.phases import post_deploy_keys

    if plan.backwards:
        return None
    waiting = post_deploy_keys([m.key for m in plan.migrations], executor.loader.graph)
    if options.phase == "all":
        if waiting:
            emit(Event("warning", f"Warning: {_keys(sorted(waiting))} marked post-deploy: deploying it with"
                       " everything else, before the new code runs. Use 'pilot deploy --phase pre', roll out"
                       " the code, then 'pilot deploy --phase post'."))
        return None
    if options.phase == "pre":
        if waiting:
            emit(Event("phase", f"Holding back {len(waiting)} post-deploy migration(s) for 'pilot deploy --phase"
                       f" post': {_keys(sorted(waiting))}."))
        plan.migrations = [m for m in plan.migrations if m.key not in waiting]
        plan.findings = [d for d in plan.findings if (d.app, d.migration) not in waiting]
        return None
    early = [m.key for m in plan.migrations if m.key not in waiting]
    if early:
        return (f"Refused: pre-deploy migration(s) {_keys(early)} are not applied yet: run 'pilot deploy --phase"
                " pre', roll out the new code, then 'pilot deploy --phase post'.")
    return None


def _run_recorded(options: DeployOptions, connection: Any, emit: EventSink, executor: MigrationExecutor,
                  plan: Any, run: Any, refusal: str | None) -> DeployResult:
    """From the recorded run on: backup, apply, verify, recover."""
    alias = options.alias
    keys = [m.key for m in plan.migrations]
    if refusal:
        history.finish_run(run, "refused", error=refusal)
        return DeployResult(EXIT_REFUSED, "refused", refusal, run_id=run.id, plan=plan)
    if not keys:
        history.finish_run(run, "succeeded")
        return DeployResult(EXIT_DEPLOYED, "succeeded", "Nothing to deploy: every migration is applied.",
                            run_id=run.id, plan=plan)
    before_applied = history.applied_now(alias)
    before_schema = schema_fingerprint(connection)
    started_empty = _is_empty(connection, before_applied)
    manifest = None
    if options.backup:
        try:
            manifest = _backup(options, emit)
        except Exception as exc:
            message = f"Backup failed, nothing was changed: {exc}"
            history.finish_run(run, "failed", error=message)
            # Missing tools or an unusable backup directory are configuration errors (exit 2).
            code = EXIT_USAGE if isinstance(exc, PilotError) and exc.exit_code == EXIT_USAGE else EXIT_ROLLED_BACK
            return DeployResult(code, "failed", message, run_id=run.id, plan=plan)
        history.finish_run(run, "running", backup_id=manifest.id)
        run.finished_at = None
        run.save(using=alias)
    if manifest is not None and options.on_failure == "restore":
        from migration_pilot.backup.position import watch_writes

        run.write_watch = watch_writes(connection)  # not a column: the application's writes from here on (E5)
    recorder = Recorder(run)
    # What the live schema looked like before: verify then tells drift this deploy made from older drift.
    before_catalog = _live_catalog(connection) if options.verify and not started_empty else None
    run.applying = True  # not a column: tells _interrupted() whether a migration can be in flight
    if plan.backwards:
        _migrate_signal(executor, plan, post=False)
        report = apply_backwards(connection, keys, timeouts=options.timeouts, recorder=recorder, emit=emit,
                                 retry=options.retry, online=options.online)
    else:
        with _impact_monitor(options, connection, emit, plan) as monitor:
            report = apply_forwards(connection, keys, timeouts=options.timeouts, retry=options.retry,
                                    recorder=recorder, emit=emit, executor=executor, online=options.online,
                                    monitor=monitor,
                                    on_start=lambda state: _migrate_signal(executor, plan, post=False,
                                                                           state=state))
    history.keep_defaults(run, report.kept_defaults)
    failure = None
    if report.failed is not None:
        failure = f"{report.failed.key[0]}.{report.failed.key[1]} failed: {report.failed.error}"
        if report.failed.lock_timeout:
            failure += _holders(connection, plan, report.failed.key)
    elif options.verify:
        try:
            failure = _verify_after(alias, emit, started_empty=started_empty and not plan.backwards,
                                    before=before_catalog, touched=_touched_tables(plan), connection=connection)
        except PilotError as exc:
            # Unproven is not verified: the migrations are applied, but nothing shows the schema is
            # what they say, so the deploy fails like any other stage and recovers.
            failure = (f"verification could not run ({exc}); pass --no-verify to deploy without it once"
                       " the cause is understood")
    if failure is None and options.checks:
        from migration_pilot.pipeline.checks import run_checks

        failure = run_checks(options.checks, timeout=options.check_timeout, emit=emit)
    if failure is None:
        history.finish_run(run, "succeeded")
        _migrate_signal(executor, plan, post=True, state=report.state)
        if options.maintain and options.kind == "deploy" and not plan.backwards:
            _maintain(connection, plan, run, options, emit, existed=set(before_schema["tables"]))
        verb = "Rolled back" if options.kind == "rollback" else (
            "Unapplied" if plan.backwards else "Deployed")
        return DeployResult(EXIT_DEPLOYED, "succeeded",
                            f"{verb} {len(report.done)} migration(s) on {alias}.",
                            run_id=run.id, applied=report.done,
                            backup_id=manifest.id if manifest else None, plan=plan)
    return _recover(options, connection, run, recorder, report, failure, before_applied,
                    before_schema, manifest, plan, emit)


def _interrupted(connection: Any, run: Any, stop: DeployInterrupted) -> DeployResult:
    """Record a run a signal stopped, and say exactly where it stopped (C3).

    The statement in flight was cancelled and its transaction rolled back; what
    committed before stays (each migration commits on its own, as with
    `migrate`). The connection is replaced, because the interruption may have
    struck anywhere in the driver or in Django's transaction handling.
    """
    connection.close()
    rows = list(run.migrations.all())
    done = [(m.app, m.name) for m in rows if m.outcome in {"applied", "unapplied"}]
    running = [m for m in rows if m.outcome == "running"]
    for row in running:
        row.outcome = "interrupted"
        row.dirty = row.steps_done > 0  # only journaled migrations count steps
        row.finished_at = timezone.now()
        row.save(using=row._state.db)
    flight = [(m.app, m.name) for m in running] or history.unfinished(run)[:1]
    dirty = [f"{m.app}.{m.name} ({m.steps_done} operation(s) had committed)" for m in running if m.dirty]
    if not getattr(run, "applying", False):
        after = " It stopped before applying anything (the backup, if one was under way, was discarded)."
    elif dirty:
        after = (f" {', '.join(dirty)} is half-applied: run 'pilot rollback' to undo exactly those steps"
                 + (f", then what this run (#{run.id}) applied ({_keys(done)})." if done else "."))
    elif done:
        after = (f" The statement in flight ({_keys(flight)}) was cancelled and rolled back. Run 'pilot deploy'"
                 f" again to finish, or 'pilot rollback' to undo what this run (#{run.id}) applied ({_keys(done)}).")
    else:  # nothing of this run stayed: a rollback now would undo an earlier deploy, not this one
        after = (f" The statement in flight ({_keys(flight)}) was cancelled and rolled back; nothing of this run"
                 " stayed applied. Run 'pilot deploy' again to finish.")
    message = f"Interrupted by {stop.signal_name}. Finished in this run: {_keys(done)}.{after}"
    history.finish_run(run, "interrupted", error=message)
    return DeployResult(stop.signum + 128, "interrupted", message, run_id=run.id, plan=None)


def _holders(connection: Any, plan: Any, key: MigrationKey) -> str:
    """", waiting for: <sessions>" after a lock timeout, so the person knows whom to ask (A4)."""
    tables = {lock.table for m in plan.migrations if m.key == key for op in m.operations for lock in op.locks}
    holders = lock_holders(connection, tables)
    if not holders:
        return ""
    shown = "; ".join(holder.describe() for holder in holders[:3])
    more = f" and {len(holders) - 3} more" if len(holders) > 3 else ""
    return f" (waiting for {shown}{more})"


def _interrupted_at(run: Any) -> str:
    """Where a dead run stopped: what it applied and what was in flight."""
    rows = list(run.migrations.all())
    done = [f"{m.app}.{m.name}" for m in rows if m.outcome == "applied"]
    running = [m for m in rows if m.outcome == "running"]
    if running:
        flight = (f"in flight {[f'{m.app}.{m.name}' for m in running]} ({running[0].steps_done} of its"
                  " operation(s) had committed on their own)")
    else:
        rest = history.unfinished(run)[:1]
        flight = (f"in flight {[f'{app}.{name}' for app, name in rest]} (it ran in one transaction: nothing of it"
                  " stayed applied)") if rest else "in flight nothing"
    return f"applied {done or 'nothing'}; {flight}"


def _backup(options: DeployOptions, emit: EventSink) -> Any:
    from migration_pilot.backup import create_backup

    emit(Event("backup_started", "Backing up before applying..."))
    manifest = create_backup(options.alias, directory=options.backup_dir, label=f"before-{options.kind}")
    emit(Event("backup_finished", f"Backup {manifest.id} taken ({manifest.size:,} bytes).",
               {"backup_id": manifest.id}))
    return manifest


def _is_empty(connection: Any, applied: Any) -> bool:
    """True when the database held nothing but the deploy's own bookkeeping before this run."""
    if any(app != "migration_pilot" for app, _name in applied):
        return False
    from django.apps import apps

    own = {"django_migrations", *(m._meta.db_table for m in apps.get_app_config("migration_pilot").get_models())}
    with connection.cursor() as cursor:
        tables = set(connection.introspection.table_names(cursor))
    return not (tables - own)


def _live_catalog(connection: Any) -> Any:
    """The live catalog (None when it cannot be read: verify then judges without it)."""
    from migration_pilot.drift.catalog import read_catalog

    try:
        return read_catalog(connection)
    except Exception:
        return None


def _touched_tables(plan: Any) -> frozenset[str]:
    """The tables the plan's operations lock, create or change."""
    return frozenset(lock.table for m in plan.migrations for op in m.operations for lock in op.locks)


def _predates(difference: Any, before: Any, after: Any, touched: frozenset[str]) -> bool:
    """Whether a difference was there before the deploy: its table is one the plan never touched, unchanged."""
    name = difference.table
    if not name or name in touched:
        return False
    if name in before.tables or name in after.tables:
        return bool(before.tables.get(name) == after.tables.get(name))
    return bool(before.views.get(name) == after.views.get(name))


def _verify_after(alias: str, emit: EventSink, *, started_empty: bool = False, before: Any = None,
                  touched: frozenset[str] = frozenset(), connection: Any = None) -> str | None:
    """Drift this deploy made fails it. The reference comes from the cache or a shadow database.

    A database this run built from empty is itself a fresh build of exactly these
    migrations, as a shadow would be; building a second one would double the
    deploy's time to prove nothing new, so then only a cached reference is used
    (history and models are checked either way).

    With the live catalog from `before` the apply, a difference on a table the
    plan never touched and that is unchanged since is older drift: it is
    reported as a warning, not laid at this deploy's door (nor rolled back).
    """
    from migration_pilot.drift import verify

    emit(Event("verify_started", "Verifying the live schema against the migrations..."))
    result = verify(alias, only_if_cached=started_empty)
    if result.reference == "skipped":
        emit(Event("verify_note", "The database was empty before this deploy, so its schema is a fresh build of"
                   " these migrations; compared history and models only ('pilot verify --prepare' in the build"
                   " step caches a reference to compare the schema against as well)."))
    elif result.reference == "shadow":
        emit(Event("verify_note", f"Built the reference schema in a shadow database ({result.duration_s:.1f}s);"
                   " 'pilot verify --prepare' in the build step makes this a cache read."))
    if result.reference != "skipped":  # e.g. no CREATEDB: compared with the migration state, coarser (S9)
        for note in result.notes:
            emit(Event("verify_note", f"Note: {note}"))
    # Unapplied migrations are expected after a --target deploy, and so is a squash only partly applied
    # after a rollback to a migration it replaced (Django then uses the replaced files, D5); rows left by
    # apps no longer installed are Django's own leftovers (migrate ignores them too); every other history
    # finding is drift.
    broken_history = [d for d in result.history if d.kind not in {"unapplied_migration", "partially_applied_squash"}
                      and not (d.kind == "applied_migration_missing" and not installed(d.object.split(".")[0]))]
    # Information only: unmanaged views, and defaults the online form kept for the running code.
    schema_drift = [d for d in result.differences if d.severity != "info"] + broken_history
    after = _live_catalog(connection) if before is not None and schema_drift and connection is not None else None
    if after is not None:
        older = [d for d in schema_drift if _predates(d, before, after, touched)]
        if older:
            first = older[0]
            emit(Event("warning", f"Warning: {len(older)} difference(s) were there before this deploy, on tables it"
                       f" did not touch (first: {first.kind} on {first.table} {first.object or ''}".rstrip()
                       + "); not this deploy's doing. 'pilot verify' shows them with fixes."))
            schema_drift = [d for d in schema_drift if d not in older]
    if schema_drift:
        first = schema_drift[0]
        return (f"verification found {len(schema_drift)} difference(s) after applying"
                f" (first: {first.kind} on {first.table} {first.object or ''})".rstrip())
    checked = ("the migration history and models match the migrations" if result.reference == "skipped"
               else "the live schema matches the migration state (tables, columns, nullability and names; no"
               " shadow database)" if result.reference == "state" else "the live schema matches the migrations")
    emit(Event("verify_finished", f"Verified: {checked}."))
    return None


def _migrate_signal(executor: MigrationExecutor, plan: Any, *, post: bool, state: Any = None) -> None:
    """Send pre_migrate/post_migrate as `migrate` does, with the migrated state's apps.

    Apps react to the schema here (content types, permissions); passing the
    state's apps, not the global registry, lets them skip models whose tables
    are not there (after a rollback, say).
    """
    from django.core.management.sql import emit_post_migrate_signal, emit_pre_migrate_signal

    connection = executor.connection
    if state is None:
        state = MigrationExecutor(connection)._create_project_state(with_applied_migrations=True)
    else:
        state.clear_delayed_apps_cache()
    django_plan = [(executor.loader.graph.nodes[m.key], m.backwards) for m in plan.migrations]
    sender = emit_post_migrate_signal if post else emit_pre_migrate_signal
    sender(0, False, connection.alias, apps=state.apps, plan=django_plan)


def _recover(options: DeployOptions, connection: Any, run: Any, recorder: Recorder, report: ApplyReport,
             failure: str, before_applied: set[MigrationKey], before_schema: dict[str, Any],
             manifest: Any, plan: Any, emit: EventSink) -> DeployResult:
    alias = options.alias
    emit(Event("failed", f"Deploy failed: {failure}"))
    done = [r.key for r in report.done]
    if options.on_failure != "stop":  # the columns go with the migrations that added them
        run.kept_defaults.all().delete()
    if options.on_failure == "stop":
        message = (f"Deploy failed and was left as is (--on-failure stop): {failure}. Applied in this run:"
                   f" {_keys(done)}. Roll back with 'pilot rollback' or restore with"
                   f" 'pilot restore {manifest.id if manifest else '<backup id>'}'.")
        history.finish_run(run, "failed", error=message)
        return DeployResult(EXIT_NEEDS_PERSON, "failed", message, run_id=run.id, applied=report.done,
                            plan=plan)
    if options.on_failure == "restore":
        if manifest is None:
            message = f"Deploy failed: {failure}. No backup to restore (--no-backup); applied: {_keys(done)}."
            history.finish_run(run, "failed", error=message)
            return DeployResult(EXIT_NEEDS_PERSON, "failed", message, run_id=run.id, plan=plan)
        from migration_pilot.backup import restore_backup
        from migration_pilot.backup.errors import DiscardWritesRequiredError

        emit(Event("restore_started", f"Restoring backup {manifest.id}..."))
        try:
            restore_backup(manifest, alias=alias, since=getattr(run, "write_watch", None),
                           discard_writes=options.discard_writes)
        except DiscardWritesRequiredError as exc:  # nothing was touched: the run is over, as a failure
            message = (f"Deploy failed: {failure}. Not restored: {exc} Applied in this run: {_keys(done)}."
                       f" Restore by hand when those writes are dealt with: 'pilot restore {manifest.id} --yes"
                       " --discard-writes'.")
            history.finish_run(run, "failed", error=message)
            return DeployResult(EXIT_NEEDS_PERSON, "failed", message, run_id=run.id, applied=report.done,
                                backup_id=manifest.id, plan=plan)
        except Exception as exc:
            message = (f"Deploy failed ({failure}) and restoring backup {manifest.id} failed too: {exc}."
                       f" Restore it by hand: 'pilot restore {manifest.id} --yes'.")
            message += _finish_after_failed_restore(alias, run, recorder, message)
            return DeployResult(EXIT_NEEDS_PERSON, "failed", message, run_id=run.id, applied=report.done,
                                backup_id=manifest.id, plan=plan)
        run = history.rerecord_run(alias, run, recorder.rows)
        return _prove_back(connection, run, before_applied, before_schema, "restored",
                           f"Deploy failed: {failure}. Restored backup {manifest.id}", report, plan)
    irreversible = [key for key in done if not _reversible(connection, key)]
    if irreversible:
        hint = (f"restore the pre-deploy backup with 'pilot restore {manifest.id} --yes'" if manifest
                else "no backup was taken (--no-backup): restore from your own backup")
        message = (f"Deploy failed: {failure}. Cannot roll back: {_keys(irreversible)} cannot be"
                   f" unapplied. Applied in this run: {_keys(done)}; {hint}.")
        history.finish_run(run, "failed", error=message)
        return DeployResult(EXIT_NEEDS_PERSON, "failed", message, run_id=run.id, applied=report.done,
                            backup_id=manifest.id if manifest else None, plan=plan)
    if report.failed is not None and report.failed.dirty:
        failed = report.failed
        emit(Event("undo_steps", f"Undoing the {failed.steps_done} operation(s) of {failed.key[0]}.{failed.key[1]}"
                   " that ran before it failed..."))
        try:
            from migration_pilot.pipeline.journal import undo_steps

            undo_steps(connection, failed.key, failed.steps_done)
        except Exception as exc:
            message = (f"Deploy failed ({failure}) and undoing the {failed.steps_done} finished operation(s) of"
                       f" {failed.key[0]}.{failed.key[1]} failed: {exc}. The database is dirty; fix it by hand.")
            history.finish_run(run, "failed", error=message)
            return DeployResult(EXIT_NEEDS_PERSON, "failed", message, run_id=run.id, plan=plan)
        history.clear_dirty(alias, failed.key)
    if report.done:
        emit(Event("rollback_started", f"Rolling back {len(done)} migration(s) applied in this run..."))
    back = (apply_forwards(connection, list(reversed(done)), timeouts=options.timeouts,
                           retry=options.retry, recorder=recorder, emit=emit) if plan.backwards
            else apply_backwards(connection, list(reversed(done)), timeouts=options.timeouts,
                                 recorder=recorder, emit=emit, retry=options.retry, online=options.online))
    if back.failed is not None:
        # Stop here (E3): a second automatic attempt could only make the state harder to read.
        hint = (f" To get back to the pre-deploy state, restore its backup: 'pilot restore {manifest.id} --yes'."
                if manifest else " No backup was taken (--no-backup): fix the reverse and run 'pilot rollback'.")
        message = (f"Deploy failed ({failure}) and rollback failed at {_keys([back.failed.key])}:"
                   f" {back.failed.error}. Now applied from this run: "
                   f"{_keys([k for k in done if k not in {r.key for r in back.done}])}.{hint}")
        history.finish_run(run, "failed", error=message)
        return DeployResult(EXIT_NEEDS_PERSON, "failed", message, run_id=run.id, plan=plan,
                            backup_id=manifest.id if manifest else None)
    return _prove_back(connection, run, before_applied, before_schema, "rolled_back",
                       f"Deploy failed: {failure}. " + (f"Rolled back {len(done)} migration(s)" if done
                                                        else "Nothing of this run had been applied"),
                       report, plan)


def _finish_after_failed_restore(alias: str, run: Any, recorder: Recorder, message: str) -> str:
    """Close the run as failed after its restore failed; "" or a sentence saying why it could not be.

    The restore may have failed before touching anything (the run row is still there), or half-way
    (the history tables are gone or hold the backup's copy of this run, as 'running'): either way the
    run must not stay 'running', or the next deploy would take it for an interrupted one.
    """
    watch = getattr(run, "write_watch", None)
    if watch is not None:
        watch.stop()
    try:
        history.finish_run(run, "failed", error=message)  # saved by id: also overwrites a restored copy
        return ""
    except Exception:
        pass
    try:
        from django.db import connections

        connections[alias].close()  # the failed restore may have left the connection in a broken transaction
        run.outcome, run.error, run.finished_at = "failed", message, timezone.now()
        history.rerecord_run(alias, run, recorder.rows)
        return ""
    except Exception as exc:
        return f" (This run could not be recorded as failed either: {type(exc).__name__}: {exc}.)"


def _prove_back(connection: Any, run: Any, before_applied: set[MigrationKey],
                before_schema: dict[str, Any], outcome: str, prefix: str, report: ApplyReport,
                plan: Any) -> DeployResult:
    alias = connection.alias
    now_applied = history.applied_now(alias)
    problems = fingerprint_difference(before_schema, schema_fingerprint(connection))
    extra = sorted(now_applied - before_applied)
    missing = sorted(before_applied - now_applied)
    if extra:
        problems.append(f"still applied: {_keys(extra)}")
    if missing:
        problems.append(f"no longer applied: {_keys(missing)}")
    if problems:
        message = (f"{prefix}, but the database is NOT back at its pre-deploy state: {'; '.join(problems)}."
                   " Inspect it with 'pilot verify' before deploying again.")
        history.finish_run(run, "failed", error=message)
        return DeployResult(EXIT_NEEDS_PERSON, "failed", message, run_id=run.id, plan=plan)
    message = f"{prefix}; the database is back at its pre-deploy state (schema and migration history verified)."
    history.finish_run(run, outcome, error=message)
    return DeployResult(EXIT_ROLLED_BACK, outcome, message, run_id=run.id, applied=report.done, plan=plan)


def _reversible(connection: Any, key: MigrationKey) -> bool:
    from migration_pilot.plan.build import operation_reversible

    migration = MigrationExecutor(connection).loader.graph.nodes[key]
    return all(operation_reversible(op) for op in migration.operations)


def _keys(keys: Sequence[MigrationKey]) -> str:
    return ", ".join(f"{a}.{n}" for a, n in keys) or "none"


def _options_json(options: DeployOptions) -> dict[str, Any]:
    return {
        "target": list(options.target) if options.target else None,
        "lock_timeout_s": options.timeouts.lock,
        "statement_timeout_s": options.timeouts.statement,
        "retries": options.retry.attempts,
        "lock_wait_budget_s": options.retry.budget,
        "online": options.online,
        "max_blocked_s": options.max_blocked,
        "phase": options.phase,
        "on_failure": options.on_failure,
        "backup": options.backup,
    }


def _maintain(connection: Any, plan: Any, run: Any, options: DeployOptions, emit: EventSink, *,
              existed: set[str]) -> None:
    """ANALYZE what the deploy changed (never fails it), say so, and record it in the run's options."""
    from migration_pilot.maintain.after_deploy import maintain_after_deploy

    try:
        done = maintain_after_deploy(connection, [m.key for m in plan.migrations], timeouts=options.timeouts,
                                     existed=existed)
    except Exception as exc:  # the migrations stand; statistics can wait for 'pilot maintain'
        emit(Event("warning", f"Warning: maintenance after the deploy failed ({' '.join(str(exc).split())[:200]});"
                   " the deploy stands. Run 'pilot maintain' later."))
        return
    for line in done.lines():
        emit(Event("maintenance", line, {"maintenance": done.as_dict()} if line.startswith("Maintenance") else {}))
    run.options = {**run.options, "maintenance": done.as_dict()}
    run.save(using=connection.alias, update_fields=["options"])
