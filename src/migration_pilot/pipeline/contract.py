"""`pilot deploy --phase post`: the contract steps the online form left for after the release.

A NOT NULL column added with a default keeps its database default during the
deploy, because the code still running inserts rows without the column. Once
the new release runs everywhere, this phase drops those defaults (a
catalog-only change under the deploy's short lock timeout and lock-wait
budget) and records when, so verify stops expecting them.
"""

from __future__ import annotations

import time
from typing import Any

from django.utils import timezone

from migration_pilot.pipeline import history, lock
from migration_pilot.pipeline.events import Event, EventSink, ignore
from migration_pilot.pipeline.preflight import connect, named_session
from migration_pilot.pipeline.timeouts import is_lock_timeout, session_timeouts, sqlstate

# undefined_table, undefined_column: the column went with a rollback or a later migration.
_GONE = {"42P01", "42703"}


def run_post_phase(options: Any, *, emit: EventSink = ignore) -> Any:
    """Drop the kept defaults of `options.alias`; a DeployResult (0 done, 1 lock not had, 3 a drop failed)."""
    from migration_pilot.pipeline.deploy import EXIT_DEPLOYED, EXIT_REFUSED, EXIT_ROLLED_BACK, DeployResult

    started = time.monotonic()
    history.require_app()
    connection = connect(options.alias)
    timeouts = options.timeouts.for_vendor(connection.vendor)
    held = lock.acquire(connection, wait=options.wait)
    try:
        with named_session(connection, "deploy"):
            pending = history.kept_defaults(options.alias)
            if not pending:
                return DeployResult(EXIT_DEPLOYED, "succeeded", "Post-deploy phase: nothing to do.",
                                    duration_s=time.monotonic() - started)
            with session_timeouts(connection, timeouts):
                for row in pending:
                    error = _drop_default(connection, row, options.retry, emit)
                    if error is not None:
                        code = EXIT_REFUSED if is_lock_timeout(error) else EXIT_ROLLED_BACK
                        return DeployResult(code, "failed", f"Post-deploy phase stopped: dropping the default of"
                                            f" {row.table}.{row.column} failed: {_one_line(error)}. Nothing else"
                                            " changed; run it again.", duration_s=time.monotonic() - started)
    finally:
        held.release()
    return DeployResult(EXIT_DEPLOYED, "succeeded", f"Post-deploy phase: dropped {len(pending)} kept default(s)"
                        f" on {options.alias}.", duration_s=time.monotonic() - started)


def _drop_default(connection: Any, row: Any, retry: Any, emit: EventSink) -> BaseException | None:
    quote = connection.ops.quote_name
    attempt, waited = 0, 0.0
    while True:
        attempt_started = time.monotonic()
        try:
            with connection.cursor() as cursor:
                cursor.execute(f"ALTER TABLE {quote(row.table)} ALTER COLUMN {quote(row.column)} DROP DEFAULT")
        except Exception as exc:
            if sqlstate(exc) in _GONE:
                emit(Event("contract", f"   {row.table}.{row.column} is gone; nothing to drop"))
                break
            waited += time.monotonic() - attempt_started
            if is_lock_timeout(exc) and retry.allows(attempt, waited):
                delay = retry.delay(attempt)
                attempt += 1
                emit(Event("lock_timeout_retry", f"   lock timeout on {row.table}; retry {attempt} in {delay:.1f}s"))
                time.sleep(delay)
                waited += delay
                continue
            return exc
        emit(Event("contract", f"   dropped the default of {row.table}.{row.column} (kept by {row.migration})"))
        break
    row.dropped_at = timezone.now()
    row.save(using=row._state.db, update_fields=["dropped_at"])
    return None


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300] or type(exc).__name__


def run_post_deploy(options: Any, *, emit: EventSink = ignore) -> Any:
    """`pilot deploy --phase post`: the post-deploy migrations, the kept defaults dropped, then the checks.

    The `--check` commands run last, after every change of the phase (also when
    it had no migration to apply), as they run last after the other phases. A
    failing check triggers `--on-failure` (pipeline/post_failure.py):
    `restore` puts back the backup the phase took before it applied anything,
    with the consent rules of any restore (writes made since by others refuse it
    without `--discard-writes`); `rollback` unapplies the phase's migrations when
    every reverse is exact and no default was dropped (a dropped default's value
    is not recorded, a lossy reverse would not give the data back); anything
    else leaves the changes in place: exit 4 naming them and how to undo them,
    or 3 when the phase changed nothing.
    """
    from migration_pilot.pipeline.deploy import EXIT_NEEDS_PERSON, EXIT_ROLLED_BACK, run_deploy

    checks, options.checks = list(options.checks), []
    gate = options.before_apply
    before = _Before(options.alias, gate, watch=options.on_failure == "restore") if checks else None
    if before is not None:
        options.before_apply = before
    try:
        deployed = run_deploy(options, emit=emit)
    finally:
        options.checks, options.before_apply = checks, gate
    if deployed.exit_code != 0:
        return deployed
    pending = {(row.table, row.column) for row in history.kept_defaults(options.alias)} if checks else set()
    contract = run_post_phase(options, emit=emit)
    contract.message = f"{deployed.message} {contract.message}"
    contract.applied = deployed.applied
    contract.run_id = deployed.run_id
    contract.backup_id = deployed.backup_id
    contract.duration_s += deployed.duration_s
    if contract.exit_code != 0 or not checks:
        return contract
    from migration_pilot.pipeline.checks import run_checks

    started = time.monotonic()
    failure = run_checks(checks, timeout=options.check_timeout, emit=emit)
    contract.duration_s += time.monotonic() - started
    if failure is None:
        return contract
    applied = ", ".join(f"{r.key[0]}.{r.key[1]}" for r in deployed.applied)
    left = {(row.table, row.column) for row in history.kept_defaults(options.alias)}
    dropped = [f"{table}.{column}" for table, column in sorted(pending - left)]
    changes = ([f"applied {applied} (undo with 'pilot rollback')"] if applied else []) + (
        [f"dropped the kept default(s) of {', '.join(dropped)} (put back by hand if the old code still runs)"]
        if dropped else [])
    contract.outcome = "failed"
    if not changes:
        contract.exit_code = EXIT_ROLLED_BACK
        contract.message = f"Post-deploy check failed: {failure}. The post phase changed nothing."
        if deployed.run_id is not None:
            _record_check_failure(options.alias, deployed.run_id, contract.message)
        return contract
    assert before is not None
    from migration_pilot.pipeline.post_failure import undo_post_phase

    undone = undo_post_phase(options, deployed, before, failure, changes, dropped, emit)
    if undone is not None:
        undone.duration_s += contract.duration_s
        return undone
    contract.exit_code = EXIT_NEEDS_PERSON
    contract.message = (f"Post-deploy check failed after the post phase: {failure}. Left as is: "
                        + "; ".join(changes) + ".")
    if deployed.run_id is not None:
        _record_check_failure(options.alias, deployed.run_id, contract.message)
    return contract


class _Before:
    """The deploy's `before_apply` hook for the post phase: what the database looked like before it changed.

    Read under the deploy lock, before the backup and the apply: the schema and
    the applied migrations (to prove an undo got back there) and, for a
    restore, the write position (what others write from here on would be lost;
    read before the backup, so it errs towards "written").
    """

    def __init__(self, alias: str, gate: Any, *, watch: bool) -> None:
        self.alias, self.gate, self.watch = alias, gate, watch
        self.schema: dict[str, Any] | None = None
        self.applied: set[tuple[str, str]] = set()
        self.position: dict[str, Any] | None = None

    def __call__(self, plan: Any) -> str | None:
        refused = self.gate(plan) if self.gate is not None else None
        if refused:
            return str(refused)
        from django.db import connections

        from migration_pilot.pipeline.fingerprint import schema_fingerprint

        connection = connections[self.alias]
        self.schema = schema_fingerprint(connection)
        self.applied = history.applied_now(self.alias)
        if self.watch:
            from migration_pilot.backup.position import read_position

            self.position = read_position(connection)
        return None


def _record_check_failure(alias: str, run_id: int, message: str) -> None:
    """The post phase's deploy run ends as failed, with why, in the run history."""
    from migration_pilot.models import DeployRun

    DeployRun.objects.using(alias).filter(id=run_id).update(outcome="failed", error=message)
