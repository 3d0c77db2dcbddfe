"""run_fleet_rollback(): unapply, per tenant, what a fleet deploy applied there, recorded per tenant.

The run undone is the latest fleet deploy (or `run_id`). Each tenant's record
in that run names the migrations it applied; those still applied in the
tenant now are unapplied, newest first, by Django's executor against the
tenant (its schema on the search_path, or its own alias), in one transaction
per tenant on PostgreSQL, on `jobs` threads with a connection each. A tenant
already rolled back has nothing left, so a rollback that failed half-way is
finished by running it again (resumable). With `atomic` (PostgreSQL schemas)
each tenant's transaction is prepared instead of committed, and the fleet's
rollback commits or rolls back as one through atomic.py, the machinery and gid
scheme fleet deploys use (windows, the decision on the run, recovery).

Before anything changes, each distinct set of reverses is classified once
(analysis/reversal.py) against one tenant of that set; a reverse that is
lossy counts as losing data in every tenant (values are not counted per
tenant), so consent is asked as for `pilot rollback`: `accept_data_loss`, or
"yes" from `confirm`, else refused (exit 1) before any tenant is touched.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db import connections, transaction
from django.utils import timezone

from migration_pilot.exceptions import ConfigError, MigrationLoadError
from migration_pilot.fleet import atomic
from migration_pilot.fleet.applied import read_schemas
from migration_pilot.fleet.compile import in_schema, with_applied
from migration_pilot.fleet.pool import run_pool
from migration_pilot.fleet.replay import TenantResult, first_line, quote_literal
from migration_pilot.loader import executor_for
from migration_pilot.pipeline import history, lock
from migration_pilot.pipeline.events import Event, EventSink, ignore
from migration_pilot.pipeline.preflight import connect
from migration_pilot.pipeline.timeouts import Timeouts, session_timeouts
from migration_pilot.types import MigrationKey

EXIT_DONE, EXIT_REFUSED, EXIT_ROLLED_BACK, EXIT_NEEDS_PERSON = 0, 1, 3, 4
Confirm = Callable[[str], bool]


@dataclass
class FleetRollbackOptions:
    """Everything `pilot rollback --fleet` takes."""

    alias: str = "default"
    run_id: int | None = None
    dry_run: bool = False
    accept_data_loss: bool = False
    timeouts: Timeouts = field(default_factory=lambda: Timeouts(lock=None, statement=0.0))
    wait: float = 30.0
    keep_going: bool = False
    jobs: int = 1
    atomic: bool = False
    atomic_window: int | None = None


@dataclass
class FleetRollbackResult:
    """How a fleet rollback ended, per tenant."""

    exit_code: int
    outcome: str
    message: str
    deploy_id: int | None = None
    run_id: int | None = None
    results: list[TenantResult] = field(default_factory=list)
    not_attempted: list[str] = field(default_factory=list)
    window: int | None = None
    duration_s: float = 0.0


def run_fleet_rollback(options: FleetRollbackOptions, *, emit: EventSink = ignore,
                       confirm: Confirm | None = None) -> FleetRollbackResult:
    """Roll back a fleet deploy; raises PilotError only for usage problems (an unknown --run)."""
    started = time.monotonic()
    history.require_app()
    connection = connect(options.alias)
    options.timeouts = options.timeouts.for_vendor(connection.vendor)
    if options.jobs < 1:
        raise ConfigError(f"Bad --jobs {options.jobs}: give 1 or more", source="--jobs")
    if options.atomic and connection.vendor != "postgresql":
        raise ConfigError("--atomic-fleet needs PostgreSQL schemas: DDL commits on its own on MySQL/MariaDB and"
                          " one database cannot prepare another's transaction; roll back without it (run it"
                          " again to finish one that failed)", source="--atomic-fleet")
    held = None if options.dry_run else lock.acquire(connection, wait=options.wait)
    try:
        result = _locked(options, connection, emit, confirm)
    finally:
        if held is not None:
            held.release()
    result.duration_s = time.monotonic() - started
    return result


def _deploy_run(alias: str, run_id: int | None) -> Any:
    from migration_pilot.models import DeployRun

    if not history.require_readable(alias):
        return None
    runs = DeployRun.objects.using(alias).filter(kind="deploy")
    if run_id is not None:
        run = runs.filter(id=run_id).first()
        if run is None or not run.options.get("fleet"):
            raise ConfigError(f"No fleet deploy #{run_id} is recorded on {alias}; 'pilot history --fleet' lists"
                              " them", source="--run")
        return run
    return next((r for r in runs.order_by("-id")[:200] if r.options.get("fleet")), None)


def _still_applied(run: Any, connection: Any) -> tuple[dict[str, list[MigrationKey]], dict[str, str]]:
    """Per tenant the deploy migrated: its migrations still applied there, newest first; and each tenant's alias."""
    rows = [t for t in run.tenants.all() if t.outcome == "migrated" and t.applied]
    aliases = {t.tenant: t.alias for t in rows}
    schemas = [t.tenant for t in rows if _own_alias(run, t.tenant)]
    now: dict[str, frozenset[MigrationKey]] = {}
    by_schema = [t.tenant for t in rows if t.tenant not in schemas]
    if by_schema:
        with connection.cursor() as cursor:
            now.update(read_schemas(cursor, by_schema, connection.ops.quote_name).applied)
    for alias in schemas:
        from django.db.migrations.recorder import MigrationRecorder

        recorder = MigrationRecorder(connections[alias])
        now[alias] = frozenset(recorder.applied_migrations()) if recorder.has_table() else frozenset()
    left: dict[str, list[MigrationKey]] = {}
    for t in rows:
        keys = [(str(a), str(n)) for a, n in t.applied if (str(a), str(n)) in now.get(t.tenant, frozenset())]
        if keys:
            left[t.tenant] = list(reversed(keys))
    return left, aliases


def _locked(options: FleetRollbackOptions, connection: Any, emit: EventSink,
            confirm: Confirm | None) -> FleetRollbackResult:
    if not options.dry_run and history.readable(options.alias):
        for run in history.interrupted_runs(options.alias):  # with the deploy lock held, they can only be dead
            history.mark_interrupted(run)
            emit(Event("interrupted", f"Found interrupted {run.kind} #{run.id}: marked interrupted."))
        if connection.vendor == "postgresql":
            atomic.recover(connection, emit)  # before the schemas are read: an earlier run's prepared work counts
    deploy = _deploy_run(options.alias, options.run_id)
    if deploy is None:
        return FleetRollbackResult(EXIT_REFUSED, "refused",
                                   f"Nothing to roll back: no fleet deploy is recorded on {options.alias}.")
    left, aliases = _still_applied(deploy, connection)
    if not left:
        return FleetRollbackResult(EXIT_REFUSED, "refused", f"Nothing to roll back: no tenant still has a migration"
                                   f" fleet deploy #{deploy.id} applied.", deploy_id=deploy.id)
    try:
        executor = executor_for(connection)
    except MigrationLoadError as exc:
        return FleetRollbackResult(EXIT_REFUSED, "refused", f"Refused: {exc}", deploy_id=deploy.id)
    groups: dict[tuple[MigrationKey, ...], list[str]] = {}
    for tenant, keys in left.items():
        groups.setdefault(tuple(keys), []).append(tenant)
    emit(Event("rollback_plan", f"Rolling back fleet deploy #{deploy.id} ({deploy.started_at:%Y-%m-%d %H:%M} UTC):"
               f" {len(left)} tenant(s) still have its migrations, in {len(groups)} group(s).",
               {"run_id": deploy.id, "tenants": len(left)}))
    window = _window(deploy, left, connection, executor, options) if options.atomic else None
    if isinstance(window, str):
        return FleetRollbackResult(EXIT_REFUSED, "refused", window, deploy_id=deploy.id)
    refusal = _consent(deploy, groups, aliases, connection, executor, options, emit, confirm)
    if refusal:
        return FleetRollbackResult(EXIT_REFUSED, "refused", refusal, deploy_id=deploy.id)
    if options.dry_run:
        return FleetRollbackResult(EXIT_DONE, "dry-run", f"Dry run: {len(left)} tenant(s) to roll back; nothing"
                                   " was changed.", deploy_id=deploy.id, window=window)
    if window is not None:
        emit(Event("window", f"All or nothing: up to {window} tenant(s) prepared at once ({len(left)} to roll"
                   " back; the window holds their locks until the fleet commits)."))
    return _execute(deploy, left, aliases, connection, options, emit, window)


def _window(deploy: Any, left: dict[str, list[MigrationKey]], connection: Any, executor: Any,
            options: FleetRollbackOptions) -> int | str:
    """The number of tenants prepared at once under --atomic-fleet, or why the fleet cannot be all or nothing.

    Raises PreparedTransactionsUnavailableError (exit 2) when the server cannot hold the window.
    """
    if deploy.options.get("databases"):
        return ("Refused: --atomic-fleet cannot roll back a fleet of databases (one database cannot prepare"
                " another's transaction, and MySQL/MariaDB DDL commits on its own); roll back without it.")
    nodes = executor.loader.graph.nodes
    loose = sorted({key for keys in left.values() for key in keys if key in nodes and not nodes[key].atomic})
    if loose:
        return (f"Refused: --atomic-fleet cannot include {loose[0][0]}.{loose[0][1]}, a non-atomic migration"
                " (its reverse commits as it goes); roll back without --atomic-fleet.")
    with connection.cursor() as cursor:
        return atomic.window(atomic.capacity(cursor), len(left), options.atomic_window)


def _consent(deploy: Any, groups: dict[tuple[MigrationKey, ...], list[str]], aliases: dict[str, str],
             connection: Any, executor: Any, options: FleetRollbackOptions, emit: EventSink,
             confirm: Confirm | None) -> str | None:
    """Classify each group's reverses once; the refusal when some lose data and nobody consented."""
    from migration_pilot.fleet.applied import effective
    from migration_pilot.plan.build import build_plan

    losses: list[str] = []
    for keys, tenants in groups.items():
        tenant = tenants[0]
        own_alias = _own_alias(deploy, tenant)
        scope = (contextlib.nullcontext() if own_alias
                 else in_schema(connection, tenant, _shared(deploy)))
        with scope:
            target = connections[tenant] if own_alias else connection
            if own_alias:
                tenant_executor = None
            else:
                with connection.cursor() as cursor:
                    applied = read_schemas(cursor, [tenant], connection.ops.quote_name).applied[tenant]
                tenant_executor = with_applied(executor, effective(executor.loader, applied))
            plan = build_plan(target.alias, with_sql=False, unapply=list(keys), executor=tenant_executor)
        for entry in plan.migrations:
            for op in reversed(entry.operations):
                if op.rollback is not None and op.rollback.kind in ("lossy", "impossible"):
                    verb = "cannot be reversed: " if op.rollback.kind == "impossible" else ""
                    text = f"{entry.app}.{entry.name} ({op.kind}) {verb}{op.rollback.what}"
                    line = f"{text} (counted in {tenant}; {len(tenants)} tenant(s) roll it back)"
                    if line not in losses:
                        losses.append(line)
    if not losses:
        return None
    listed = "; ".join(losses)
    what = f"fleet deploy #{deploy.id}"
    if options.accept_data_loss:
        emit(Event("data_loss", f"Accepted data loss (--accept-data-loss): {listed}."))
        return None
    if confirm is not None and not options.dry_run and confirm(f"Rolling back {what} loses data: {listed}."):
        emit(Event("data_loss", f"Accepted data loss (confirmed at the terminal): {listed}."))
        return None
    backups = deploy.options.get("backups") or {}
    if deploy.options.get("databases") and backups:
        restore = "the backups taken before it, " + ", ".join(f"'pilot restore {backup} --database {alias}'"
                                                              for alias, backup in backups.items())
    elif deploy.backup_id:
        restore = f"'pilot restore {deploy.backup_id}' (the backup taken before it)"
    else:
        restore = "'pilot restore' from a backup taken before it ('pilot backups' lists them)"
    return (f"Refused: rolling back {what} loses data: {listed}. Pass --accept-data-loss to roll back anyway,"
            f" or restore instead: {restore}.")


def _own_alias(deploy: Any, tenant: str) -> bool:
    """Whether `tenant` is a database alias of its own (a multi-database fleet), not a schema."""
    return bool(deploy.options.get("databases")) and tenant in connections.settings


def _shared(deploy: Any) -> tuple[str, ...]:
    """Schemas after the tenant's on its search_path, as the deploy had them (django-tenants: public)."""
    if "shared_schemas" in deploy.options:
        return tuple(deploy.options["shared_schemas"] or ())
    if deploy.options.get("databases"):
        return ()
    from migration_pilot.fleet.discovery import discover

    with contextlib.suppress(ConfigError):
        return discover(deploy.alias).shared_schemas
    return ()


def _execute(deploy: Any, left: dict[str, list[MigrationKey]], aliases: dict[str, str], connection: Any,
             options: FleetRollbackOptions, emit: EventSink, window: int | None) -> FleetRollbackResult:
    from migration_pilot.models import FleetTenant

    alias = options.alias
    run = history.start_run(alias, "rollback", sorted({k for keys in left.values() for k in keys}),
                            {"fleet": True, "of_run": deploy.id, "tenants": len(left), "jobs": options.jobs,
                             "atomic": options.atomic, "window": window,
                             "databases": deploy.options.get("databases")})
    rows = {t: FleetTenant(run=run, tenant=t, alias=aliases[t]) for t in left}
    FleetTenant.objects.using(alias).bulk_create(rows.values(), batch_size=500)
    results: list[TenantResult] = []
    mutex = threading.Lock()
    stop = threading.Event()
    shared = _shared(deploy)

    def record(result: TenantResult) -> None:
        with mutex:
            results.append(result)
            if result.outcome == "failed":
                emit(Event("tenant_failed", f"   {result.tenant}: {result.error}"))
                if window is not None or not options.keep_going:
                    stop.set()

    def work(tenant: str) -> TenantResult:
        gid = atomic.gid(run.id, tenant) if window is not None else None
        return _unapply(tenant, left[tenant], _own_alias(deploy, tenant), shared, options, gid)

    tenants = list(left)
    batches = [tenants[i:i + window] for i in range(0, len(tenants), window)] if window else [tenants]
    committed: list[TenantResult] = []
    for batch in batches:
        if stop.is_set():
            break
        before = len(results)
        run_pool(batch, options.jobs, work, record, stop)
        if window is None:
            continue
        prepared = [r for r in results[before:] if r.outcome == "prepared"]
        commit = not stop.is_set()
        atomic.settle_window(connection, run, prepared, commit=commit, kind="rollback", emit=emit)
        if commit:
            committed.extend(prepared)
    _save_rows(rows, results, alias)
    return _finish(deploy, run, left, results, window, committed)


def _save_rows(rows: dict[str, Any], results: list[TenantResult], alias: str) -> None:
    from migration_pilot.models import FleetTenant

    now = timezone.now()
    for result in results:
        row = rows[result.tenant]
        row.outcome, row.error, row.duration_s, row.finished_at = (result.outcome, result.error,
                                                                   result.duration_s, now)
        row.applied = [list(k) for k in result.applied] if result.outcome == "rolled_back" else []
    FleetTenant.objects.using(alias).bulk_update([rows[r.tenant] for r in results],
                                                 ["outcome", "error", "duration_s", "finished_at", "applied"],
                                                 batch_size=500)


def _finish(deploy: Any, run: Any, left: dict[str, list[MigrationKey]], results: list[TenantResult],
            window: int | None, committed: list[TenantResult]) -> FleetRollbackResult:
    done = {r.tenant for r in results}
    not_attempted = [t for t in left if t not in done]
    failed = [r for r in results if r.outcome == "failed"]
    rolled = sum(1 for r in results if r.outcome == "rolled_back")
    if not failed:
        message = f"Rolled back fleet deploy #{deploy.id} in {rolled} tenant(s)."
        history.finish_run(run, "succeeded")
        code, outcome = EXIT_DONE, "succeeded"
    elif window is not None and not committed:
        unchanged = sum(1 for r in results if r.outcome == "unchanged")
        message = (f"Fleet rollback failed in {len(failed)} tenant(s) (first: {failed[0].tenant}: {failed[0].error});"
                   f" all or nothing: the {unchanged} prepared tenant(s) were rolled back too, no tenant was changed"
                   f" (each still has fleet deploy #{deploy.id}'s migrations). Fix the cause and run it again.")
        history.finish_run(run, "failed", error=message)
        code, outcome = EXIT_ROLLED_BACK, "failed"
    else:
        where = (f" Windows committed before the failure stay rolled back ({len(committed)} tenant(s))."
                 if window is not None else "")
        message = (f"Fleet rollback failed in {len(failed)} tenant(s) (first: {failed[0].tenant}: {failed[0].error});"
                   f" {rolled} rolled back, {len(not_attempted)} not attempted, each failed tenant left as it was."
                   f"{where} Fix the cause, then run 'pilot rollback --fleet' again: it picks up what is left.")
        history.finish_run(run, "failed", error=message)
        code, outcome = EXIT_NEEDS_PERSON, "failed"
    return FleetRollbackResult(code, outcome, message, deploy_id=deploy.id, run_id=run.id, results=results,
                               not_attempted=not_attempted, window=window)


def _unapply(tenant: str, keys: list[MigrationKey], own: bool, shared: tuple[str, ...],
             options: FleetRollbackOptions, gid: str | None = None) -> TenantResult:
    """Unapply `keys` (newest first) in one tenant, on this thread's own connection.

    With transactional DDL all of it runs in one transaction, committed, or with
    `gid` prepared (PREPARE TRANSACTION) for the fleet's two-phase commit.
    """
    from django.db.migrations.executor import MigrationExecutor

    started = time.monotonic()
    target = connections[tenant] if own else connections[options.alias]
    scope = contextlib.nullcontext() if own else in_schema(target, tenant, shared)
    try:
        with scope, session_timeouts(target, options.timeouts.for_vendor(target.vendor)):
            executor = MigrationExecutor(target)
            applied = set(executor.loader.applied_migrations)
            chosen = set(keys)
            for key in keys:
                later = [c.key for c in executor.loader.graph.node_map[key].children
                         if c.key in applied and c.key not in chosen]
                if later:
                    raise RuntimeError(f"{later[0][0]}.{later[0][1]}, applied later, depends on {key[0]}.{key[1]};"
                                       f" unapply it first (pilot rollback --to {key[0]} <migration>)")
            plan = [(executor.loader.graph.nodes[key], True) for key in keys]
            if gid is not None:
                _prepared(target, executor, plan, gid)
            else:
                whole = target.features.can_rollback_ddl and all(m.atomic for m, _ in plan)
                with transaction.atomic(using=target.alias) if whole else contextlib.nullcontext():
                    executor.migrate([], plan=plan)
    except Exception as exc:
        return TenantResult(tenant, "failed", error=first_line(exc), duration_s=time.monotonic() - started)
    return TenantResult(tenant, "prepared" if gid else "rolled_back", list(keys),
                        duration_s=time.monotonic() - started, gid=gid)


def _prepared(target: Any, executor: Any, plan: list[Any], gid: str) -> None:
    """Run `plan` in one transaction on `target` and end it with PREPARE TRANSACTION `gid` (not a commit).

    With autocommit off Django's atomic blocks become savepoints of the open
    transaction, and the executor's history rows go in it too.
    """
    target.set_autocommit(False)
    try:
        executor.migrate([], plan=plan)
        with target.cursor() as cursor:
            cursor.execute(f"PREPARE TRANSACTION {quote_literal(gid)}")
    except BaseException:
        with contextlib.suppress(Exception):
            target.rollback()
        raise
    finally:
        with contextlib.suppress(Exception):
            target.set_autocommit(True)
