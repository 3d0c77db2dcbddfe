"""run_fleet_deploy(): one plan, many tenants, each in its own transaction, recorded per tenant.

Load the graph and the applied state once, group tenants by applied set,
skip those at the target, gate each group's plan on lint once, then replay
each group's compiled SQL per tenant on `jobs` connections (or, for groups
that cannot be compiled, run Django's executor per tenant). With `atomic`,
every tenant's transaction is prepared and the fleet commits or rolls back
as one. Exit codes as for `pilot deploy`: 0 deployed, 1 refused, 2 usage,
3 failed and every tenant back where it was, 4 failed with some tenants
migrated (the message says how to finish: fix, then --resume).
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.db import connections
from django.utils import timezone

from migration_pilot.conf import Config, load_config
from migration_pilot.diagnostics import Severity
from migration_pilot.exceptions import ConfigError, MigrationLoadError
from migration_pilot.fleet import atomic
from migration_pilot.fleet.compile import Script, in_schema, with_applied
from migration_pilot.fleet.discovery import Fleet, discover
from migration_pilot.fleet.plan import FleetPlan, build_fleet_plan
from migration_pilot.fleet.replay import TenantResult, first_line, replay
from migration_pilot.loader import executor_for
from migration_pilot.pipeline import history, lock
from migration_pilot.pipeline.apply import Retry
from migration_pilot.pipeline.events import Event, EventSink, ignore
from migration_pilot.pipeline.preflight import connect
from migration_pilot.pipeline.timeouts import Timeouts, session_timeouts

EXIT_DEPLOYED, EXIT_REFUSED, EXIT_USAGE, EXIT_ROLLED_BACK, EXIT_NEEDS_PERSON = 0, 1, 2, 3, 4
DONE = frozenset({"migrated", "at_head"})
Progress = Callable[[int, int, int], None]
"""progress(done, failed, total) after each tenant."""


@dataclass
class FleetOptions:
    """Everything `pilot deploy --fleet` takes."""

    alias: str = "default"
    databases: Sequence[str] | None = None
    schemas: Sequence[str] | None = None
    dry_run: bool = False
    fail_on: int = Severity.ERROR
    timeouts: Timeouts = field(default_factory=lambda: Timeouts(lock=None, statement=0.0))
    retry: Retry = field(default_factory=Retry)
    wait: float = 30.0
    jobs: int = 2
    atomic: bool = False
    atomic_window: int | None = None
    resume: bool = False
    keep_going: bool = False
    backup: bool = True
    backup_dir: Path | None = None
    undo_on_failure: bool = True
    """A fleet of databases that fails half-way rolls back the databases this run migrated (`--on-failure
    rollback`, the default, as a one-database deploy does); `--on-failure stop` leaves them for `--resume`."""


@dataclass
class FleetResult:
    """How a fleet deploy ended, per tenant."""

    exit_code: int
    outcome: str
    message: str
    plan: FleetPlan | None = None
    run_id: int | None = None
    results: list[TenantResult] = field(default_factory=list)
    not_attempted: list[str] = field(default_factory=list)
    window: int | None = None
    duration_s: float = 0.0
    backup_id: str | None = None
    backups: dict[str, str] = field(default_factory=dict)
    """Every pre-deploy backup of the run by alias (one for a schema fleet, one per database otherwise)."""


def run_fleet_deploy(options: FleetOptions, *, emit: EventSink = ignore, progress: Progress | None = None,
                     config: Config | None = None) -> FleetResult:
    """Deploy the fleet; raises PilotError only for usage/configuration problems."""
    started = time.monotonic()
    config = config or load_config()
    history.require_app()
    connection = connect(options.alias)
    options.timeouts = options.timeouts.for_vendor(connection.vendor)
    options.timeouts.validate()
    if options.jobs < 1:
        raise ConfigError(f"Bad --jobs {options.jobs}: give 1 or more", source="--jobs")
    if options.atomic and (options.databases or connection.vendor != "postgresql"):
        raise ConfigError("--atomic-fleet needs PostgreSQL schemas: DDL commits on its own on MySQL/MariaDB and"
                          " one database cannot prepare another's transaction; deploy without it (resumable,"
                          " then --resume)", source="--atomic-fleet")
    held = None if options.dry_run else lock.acquire(connection, wait=options.wait)
    try:
        result = _locked(options, config, connection, emit, progress or (lambda *_: None))
    finally:
        if held is not None:
            held.release()
    if _undo_applies(options, result):
        result = _undo(options, result, emit)
    result.duration_s = time.monotonic() - started
    return result


def _undo_applies(options: FleetOptions, result: FleetResult) -> bool:
    """A fleet of databases stopped by a failure, with databases this run migrated: undo those too."""
    return bool(options.databases and options.undo_on_failure and not options.keep_going and not options.dry_run
                and result.outcome == "failed" and result.run_id is not None
                and any(r.outcome == "migrated" for r in result.results))


def _undo(options: FleetOptions, result: FleetResult, emit: EventSink) -> FleetResult:
    """Roll back, database by database, what this run applied (catalogue J1: alias 2 fails, alias 1 goes back).

    Cross-database atomicity is impossible (each database commits its own DDL),
    so this is the next best thing, the one-database deploy's recovery applied
    to each database the run changed: the run's own reverses, with the same
    implicit consent a failed deploy's rollback has. If a reverse fails, the
    message says so and each database's pre-deploy backup is still there.
    """
    from migration_pilot.fleet.rollback import FleetRollbackOptions, run_fleet_rollback

    migrated = [r.tenant for r in result.results if r.outcome == "migrated"]
    emit(Event("rollback_started", f"Rolling back the {len(migrated)} database(s) this run migrated:"
               f" {', '.join(migrated)}."))
    undone = run_fleet_rollback(FleetRollbackOptions(alias=options.alias, run_id=result.run_id,
                                                     accept_data_loss=True, timeouts=options.timeouts,
                                                     wait=options.wait), emit=emit)
    first = next(r for r in result.results if r.outcome == "failed")
    if undone.exit_code == 0:
        result.exit_code, result.outcome = EXIT_ROLLED_BACK, "rolled_back"
        result.message = (f"Fleet deploy failed in {first.tenant}: {first.error}; rolled back the database(s) this"
                          f" run had migrated ({', '.join(migrated)}): every database is where it was before the"
                          " run.")
    else:
        result.message += (f" Rolling back the databases this run migrated did not finish: {undone.message}")
    if result.run_id is not None:
        history.finish_run(_run(options.alias, result.run_id), result.outcome, error=result.message)
    return result


def _run(alias: str, run_id: int) -> Any:
    from migration_pilot.models import DeployRun

    return DeployRun.objects.using(alias).get(id=run_id)


def _locked(options: FleetOptions, config: Config, connection: Any, emit: EventSink,
            progress: Progress) -> FleetResult:
    alias = options.alias
    try:
        executor = executor_for(connection)
    except MigrationLoadError as exc:
        return FleetResult(EXIT_REFUSED, "refused", f"Refused: {exc}")
    if not options.dry_run:
        history.ensure_tables(alias, executor)
        for run in history.interrupted_runs(alias):
            history.mark_interrupted(run)
            emit(Event("interrupted", f"Found interrupted {run.kind} #{run.id}: marked interrupted; its tenants"
                       " not finished are picked up by this run."))
        if connection.vendor == "postgresql":
            atomic.recover(connection, emit)
    only = _resume_tenants(alias, emit) if options.resume else options.schemas
    fleet = discover(alias, databases=options.databases, only=only if not options.databases else None)
    if options.resume and options.databases and only is not None:
        fleet = Fleet(fleet.source, alias=alias, aliases=tuple(a for a in fleet.aliases if a in set(only)))
    emit(Event("fleet", f"Fleet: {fleet.size} tenant(s) from {fleet.source}."))
    if not options.dry_run:
        emit(Event("settings", f"Lock timeout {options.timeouts.lock or 0:g}s, statement timeout"
                   f" {options.timeouts.statement:g}s per tenant, lock timeouts retried; {options.jobs} job(s);"
                   f" {'all or nothing' if options.atomic else 'each tenant commits on its own (resumable)'}."))
    plan = build_fleet_plan(connection, executor, fleet)
    _report_problems(plan, emit)
    if not fleet.size:
        return FleetResult(EXIT_DEPLOYED, "succeeded", "Nothing to deploy: the fleet has no tenants.", plan=plan)
    refusal = _gate(plan, options, config, connection, executor, emit)
    window = None
    slow = [t for g in plan.groups if not g.script.replayable for t in g.tenants]
    if not refusal and options.atomic and plan.pending:
        if slow or fleet.aliases:
            refusal = (f"Refused: --atomic-fleet cannot include {len(slow)} tenant(s) whose plan runs Python or"
                       " a non-atomic migration (they commit as they go); deploy without --atomic-fleet.")
        else:
            with connection.cursor() as cursor:
                window = atomic.window(atomic.capacity(cursor), len(plan.pending), options.atomic_window)
    if options.dry_run or refusal:
        code = EXIT_REFUSED if refusal else EXIT_DEPLOYED
        return FleetResult(code, "refused" if refusal else "dry-run",
                           refusal or f"Dry run: {len(plan.pending)} tenant(s) to migrate; nothing was changed.",
                           plan=plan, window=window)
    problems = len(plan.missing_history) + len(plan.diverged)
    if not plan.pending:
        code = EXIT_REFUSED if problems else EXIT_DEPLOYED
        return FleetResult(code, "succeeded", f"Nothing to deploy: {len(plan.at_head)} tenant(s) at the target"
                           + (f", {problems} refused (see above)." if problems else "."), plan=plan)
    backups = _backup(options, fleet, plan.pending, emit)
    if isinstance(backups, FleetResult):
        backups.plan = plan
        return backups
    run = history.start_run(alias, "deploy", plan.keys, _options_json(options, fleet, window, backups))
    backup = _recorded_backup(alias, backups)
    if backup is not None:
        run.backup_id = backup
        run.save(using=alias, update_fields=["backup_id"])
    rows = _record_tenants(run, plan)
    if slow:
        emit(Event("slow_path", f"{len(slow)} tenant(s) run Python or non-atomic migrations: Django's executor"
                   " runs their plan per tenant (slower than the compiled replay)."))
    if window is not None:
        emit(Event("window", f"All or nothing: up to {window} tenant(s) prepared at once"
                   f" ({len(plan.pending)} pending; the window holds their locks until the fleet commits)."))
    result = _execute(options, connection, executor, plan, run, rows, window, emit, progress)
    result.backup_id = backup
    result.backups = backups or {}
    return result


def _recorded_backup(alias: str, backups: dict[str, str] | None) -> str | None:
    """The id on the run's backup_id: the backup of the alias holding the history, else the first one.

    Every id, per alias, is in the run's options ('backups'), written once with the run.
    """
    if not backups:
        return None
    return backups.get(alias) or next(iter(backups.values()))


def _backup(options: FleetOptions, fleet: Fleet, pending: Sequence[str],
            emit: EventSink) -> dict[str, str] | FleetResult | None:
    """The run's pre-deploy backups before any tenant changes, {alias: backup id}, or the failure.

    A schema fleet is one database: one dump holds every tenant. A fleet of
    databases gets one dump per database the run will change (its pending
    aliases), taken one after the other before the first tenant is touched.
    """
    if not options.backup:
        emit(Event("backup_skipped", "No pre-deploy backup (--no-backup)."))
        return None
    from migration_pilot.backup import create_backup
    from migration_pilot.exceptions import PilotError

    aliases = list(pending) if fleet.aliases else [options.alias]
    taken: dict[str, str] = {}
    for alias in aliases:
        what = f"database {alias}" + ("" if fleet.aliases else " (every tenant schema)")
        emit(Event("backup_started", f"Backing up {what} before applying..."))
        try:
            manifest = create_backup(alias, directory=options.backup_dir, label="before-fleet-deploy")
        except Exception as exc:
            code = EXIT_USAGE if isinstance(exc, PilotError) and exc.exit_code == EXIT_USAGE else EXIT_ROLLED_BACK
            kept = f" (the {len(taken)} taken before it are kept: {', '.join(taken.values())})" if taken else ""
            which = f" of {alias}" if fleet.aliases else ""
            return FleetResult(code, "failed", f"Backup{which} failed, no tenant was changed{kept}: {exc}")
        taken[alias] = str(manifest.id)
        scope = (f"'pilot restore {manifest.id} --database {alias}' brings {alias} back to now" if fleet.aliases
                 else f"'pilot restore {manifest.id}' brings every tenant back to now")
        emit(Event("backup_finished", f"Backup {manifest.id} taken ({manifest.size:,} bytes), once for the"
                   f" {'database' if fleet.aliases else 'fleet'}; {scope}.",
                   {"backup_id": manifest.id, "alias": alias}))
    return taken


def _report_problems(plan: FleetPlan, emit: EventSink) -> None:
    for tenant in plan.missing_history:
        emit(Event("missing_history", f"   {tenant}: no django_migrations table; left alone (migrate it once"
                   " by hand, or remove it from the fleet)."))
    for tenant, keys in plan.diverged.items():
        names = ", ".join(f"{a}.{n}" for a, n in keys[:3])
        emit(Event("diverged", f"   {tenant}: applied migrations not on disk ({names}); left alone."))
    counts = ", ".join(f"{len(g.tenants)} x {len(g.script.keys)} migration(s)" for g in plan.groups)
    emit(Event("planned", f"Plan: {len(plan.at_head)} tenant(s) at the target, {len(plan.pending)} to migrate"
               f" in {len(plan.groups)} group(s){': ' + counts if counts else ''} (read in {plan.read_s:.2f}s).",
               {"groups": len(plan.groups), "pending": len(plan.pending), "at_head": len(plan.at_head)}))


def _gate(plan: FleetPlan, options: FleetOptions, config: Config, connection: Any, executor: Any,
          emit: EventSink) -> str | None:
    """Lint each group's plan once, against one tenant of the group; the refusal, if any."""
    conflicts = executor.loader.detect_conflicts()
    if conflicts:
        app, names = sorted(conflicts.items())[0]
        return (f"Refused: conflicting migrations in {app} ({', '.join(sorted(names))});"
                f" run 'manage.py makemigrations --merge {app}'.")
    if not plan.groups:
        return None
    from migration_pilot.plan.build import build_plan  # the plan renderer and lint: only when something is pending

    for found in plan.groups:
        tenant = found.tenants[0]
        target = connections[tenant] if plan.fleet.aliases else connection
        scope = (contextlib.nullcontext() if plan.fleet.aliases
                 else in_schema(connection, tenant, plan.fleet.shared_schemas))
        with scope:
            group_plan = build_plan(target.alias, config=config, with_sql=False,
                                    executor=with_applied(executor, found.applied) if not plan.fleet.aliases
                                    else None)
        for finding in group_plan.findings:
            emit(Event("finding", f"   {finding.rule} [{finding.severity.label}] {finding.app}.{finding.migration}:"
                       f" {finding.message}"))
        blocking = group_plan.blocking_findings(options.fail_on)
        if blocking:
            return (f"Refused: {len(blocking)} lint finding(s) at or above --fail-on in the plan of"
                    f" {len(found.tenants)} tenant(s) (first: {blocking[0].rule} in {blocking[0].app}."
                    f"{blocking[0].migration}). Fix the migrations, or suppress with a reason.")
    return None


def _resume_tenants(alias: str, emit: EventSink) -> list[str]:
    """Every tenant of the last fleet deploy: what each has applied now, not its record, says what is left.

    A record says what the run did, not where the tenant is now: a tenant that
    `pilot rollback --fleet` (or a restore) has since taken back reads as done
    in the record but is pending again in its schema. The plan reads every
    schema's applied set, so the tenants at the target are skipped there.
    """
    from migration_pilot.models import DeployRun

    last = next((r for r in DeployRun.objects.using(alias).filter(kind="deploy").order_by("-id")
                 if r.options.get("fleet")), None)
    if last is None:
        raise ConfigError("No fleet deploy recorded to resume; run 'pilot deploy --fleet' first", source="--resume")
    rows = list(last.tenants.all())
    left = sum(1 for row in rows if row.outcome not in DONE)
    emit(Event("resume", f"Resuming fleet deploy #{last.id} ({last.outcome}): {left} tenant(s) not done by its"
               f" record; all {len(rows)} checked against what they have applied now."))
    return [row.tenant for row in rows]


def _record_tenants(run: Any, plan: FleetPlan) -> dict[str, Any]:
    from migration_pilot.models import FleetTenant

    alias = plan.fleet.alias
    outcome = {t: "at_head" for t in plan.at_head}
    outcome.update({t: "missing_history" for t in plan.missing_history})
    outcome.update({t: "diverged" for t in plan.diverged})
    tenants = plan.fleet.aliases or plan.fleet.schemas
    now = timezone.now()
    rows = [FleetTenant(run=run, tenant=t, alias=t if plan.fleet.aliases else alias,
                        outcome=outcome.get(t, "not_attempted"),
                        finished_at=now if t in outcome else None) for t in tenants]
    FleetTenant.objects.using(run._state.db).bulk_create(rows, batch_size=500)
    return {row.tenant: row for row in rows}


def _execute(options: FleetOptions, connection: Any, executor: Any, plan: FleetPlan, run: Any,
             rows: dict[str, Any], window: int | None, emit: EventSink, progress: Progress) -> FleetResult:
    scripts = plan.script_for()
    pending = plan.pending
    fast = [t for t in pending if scripts[t].replayable and not plan.fleet.aliases]
    slow = [t for t in pending if t not in set(fast)]
    results: list[TenantResult] = []
    counts = {"done": 0, "failed": 0}
    mutex = threading.Lock()
    stop = threading.Event()

    def record(result: TenantResult) -> None:
        with mutex:
            results.append(result)
            counts["failed" if result.outcome == "failed" else "done"] += 1
            if result.outcome == "failed" and (options.atomic or not options.keep_going):
                stop.set()
            progress(counts["done"], counts["failed"], len(pending))

    batches = [fast[i:i + window] for i in range(0, len(fast), window)] if window else [fast]
    committed: list[TenantResult] = []
    rolled_back: list[TenantResult] = []
    for batch in batches:
        if stop.is_set():
            break
        before = len(results)
        _pool(connection, batch, scripts, options, plan.fleet.shared_schemas, record, stop,
              run.id if window else None)
        if window:
            prepared = [r for r in results[before:] if r.outcome == "prepared"]
            commit = not stop.is_set()
            atomic.settle_window(connection, run, prepared, commit=commit, kind="deploy", emit=emit)
            (committed if commit else rolled_back).extend(prepared)
    for tenant in slow:
        if stop.is_set():
            break
        record(_through_executor(tenant, plan, executor, connection, options))
    done_tenants = {r.tenant for r in results}
    not_attempted = [t for t in pending if t not in done_tenants]
    _save_rows(rows, results, run._state.db)
    return _finish(options, plan, run, results, not_attempted, window, committed, rolled_back)


def _pool(connection: Any, tenants: list[str], scripts: dict[str, Script], options: FleetOptions,
          shared: Sequence[str], record: Callable[[TenantResult], None], stop: threading.Event,
          run_id: int | None) -> None:
    """Replay on min(jobs, tenants) connections of their own, one tenant at a time each."""
    if not tenants:
        return
    work: queue.SimpleQueue[str] = queue.SimpleQueue()
    for tenant in tenants:
        work.put(tenant)
    quote = connection.ops.quote_name
    raws = [lock.new_raw_connection(connection) for _ in range(min(options.jobs, len(tenants)))]

    def worker(raw: Any) -> None:
        while not stop.is_set():
            try:
                tenant = work.get_nowait()
            except queue.Empty:
                return
            try:
                if raw.closed or raw.broken:
                    raw = lock.new_raw_connection(connection)
                result = replay(raw, tenant, scripts[tenant], shared=shared, quote=quote, timeouts=options.timeouts,
                                retry=options.retry, gid=atomic.gid(run_id, tenant) if run_id is not None else None)
            except Exception as exc:  # a lost connection: this tenant failed, the worker goes on with a new one
                result = TenantResult(tenant, "failed", error=first_line(exc))
            record(result)

    threads = [threading.Thread(target=worker, args=(raw,), daemon=True) for raw in raws]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for raw in raws:
        with contextlib.suppress(Exception):
            raw.close()


def _through_executor(tenant: str, plan: FleetPlan, executor: Any, connection: Any,
                      options: FleetOptions) -> TenantResult:
    """The slower path: Django's executor migrates one tenant (each migration commits on its own)."""
    from django.db.migrations.executor import MigrationExecutor

    started = time.monotonic()
    script = plan.script_for()[tenant]
    target = connections[tenant] if plan.fleet.aliases else connection
    scope = contextlib.nullcontext() if plan.fleet.aliases else in_schema(connection, tenant,
                                                                          plan.fleet.shared_schemas)
    try:
        with scope, session_timeouts(target, options.timeouts.for_vendor(target.vendor)):
            tenant_executor = MigrationExecutor(target)
            tenant_executor.migrate(plan.targets)
    except Exception as exc:
        return TenantResult(tenant, "failed", error=first_line(exc), duration_s=time.monotonic() - started)
    return TenantResult(tenant, "migrated", list(script.keys), duration_s=time.monotonic() - started)


def _save_rows(rows: dict[str, Any], results: list[TenantResult], db: str) -> None:
    from migration_pilot.models import FleetTenant

    now = timezone.now()
    changed = []
    for result in results:
        row = rows[result.tenant]
        row.outcome = result.outcome
        row.applied = [list(k) for k in result.applied] if result.outcome == "migrated" else []
        row.error = result.error
        row.duration_s = result.duration_s
        row.finished_at = now
        changed.append(row)
    connection = connections[db]
    if connection.vendor != "postgresql":
        FleetTenant.objects.using(db).bulk_update(changed, ["outcome", "applied", "error", "duration_s",
                                                            "finished_at"], batch_size=500)
        return
    # One statement for the whole fleet (bulk_update's CASE per row costs seconds at a thousand tenants).
    import json

    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {FleetTenant._meta.db_table} AS t SET outcome = v.outcome, applied = v.applied::jsonb,"
            " error = v.error, duration_s = v.duration_s, finished_at = %s"
            " FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::text[], %s::float8[])"
            " AS v(id, outcome, applied, error, duration_s) WHERE t.id = v.id",
            [now, [row.pk for row in changed], [row.outcome for row in changed],
             [json.dumps(row.applied) for row in changed], [row.error for row in changed],
             [row.duration_s for row in changed]])


def _finish(options: FleetOptions, plan: FleetPlan, run: Any, results: list[TenantResult],
            not_attempted: list[str], window: int | None, committed: list[TenantResult],
            rolled_back: list[TenantResult]) -> FleetResult:
    failed = [r for r in results if r.outcome == "failed"]
    migrated = [r for r in results if r.outcome == "migrated"]
    problems = len(plan.missing_history) + len(plan.diverged)
    if not failed:
        outcome, code = "succeeded", EXIT_REFUSED if problems else EXIT_DEPLOYED
        message = f"Deployed: {len(migrated)} tenant(s) migrated, {len(plan.at_head)} already at the target."
        if problems:
            message += f" {problems} tenant(s) left alone (no history table or diverged; see above)."
    elif window is not None and not committed:
        outcome, code = "rolled_back", EXIT_ROLLED_BACK
        message = (f"Fleet deploy failed in {len(failed)} tenant(s) (first: {failed[0].tenant}: {failed[0].error});"
                   f" rolled back all {len(rolled_back)} prepared tenant(s): no tenant was changed.")
    else:
        outcome, code = "failed", EXIT_NEEDS_PERSON
        where = (f" Windows committed before the failure stay migrated ({len(committed)} tenant(s))."
                 if window is not None else "")
        message = (f"Fleet deploy failed in {len(failed)} tenant(s) (first: {failed[0].tenant}: {failed[0].error});"
                   f" {len(migrated)} migrated, {len(not_attempted)} not attempted, each failed tenant rolled back"
                   f" to where it was.{where} Fix the cause, then 'pilot deploy --fleet --resume'.")
    history.finish_run(run, outcome, error="" if outcome == "succeeded" and not problems else message)
    return FleetResult(code, outcome, message, plan=plan, run_id=run.id, results=results,
                       not_attempted=not_attempted, window=window)


def _options_json(options: FleetOptions, fleet: Fleet, window: int | None,
                  backups: dict[str, str] | None) -> dict[str, Any]:
    return {"fleet": True, "source": fleet.source, "tenants": fleet.size, "jobs": options.jobs,
            "backups": backups or {}, "atomic": options.atomic, "window": window, "resume": options.resume,
            "lock_timeout_s": options.timeouts.lock, "statement_timeout_s": options.timeouts.statement,
            "databases": list(options.databases) if options.databases else None,
            "shared_schemas": list(fleet.shared_schemas)}
