"""`--on-failure` after a failing check of `pilot deploy --phase post`: restore, roll back, or say why not.

The post phase applies contract migrations (they usually drop what the old
release needed) and drops the defaults kept for the old code. When a check
fails after it:

- `restore` puts back the backup the phase took before it applied anything,
  under the deploy lock, with the consent rules of every restore: writes made
  since the phase started by other sessions (or writes that cannot be told
  apart) refuse it unless `--discard-writes`;
- `rollback` unapplies the phase's migrations, as `pilot rollback` would, only
  when every reverse is exact and no default was dropped: a lossy reverse would
  not give the dropped data back, and a dropped default's value is not
  recorded anywhere to put it back;
- otherwise nothing is undone, and the reason is an event before the result.

Either undo is then proven: the schema and the applied migrations must equal
what they were before the phase, or the exit is 4.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from migration_pilot.pipeline import history, lock
from migration_pilot.pipeline.events import Event, EventSink
from migration_pilot.types import MigrationKey


def undo_post_phase(options: Any, deployed: Any, before: Any, failure: str, changes: Sequence[str],
                    dropped: Sequence[str], emit: EventSink) -> Any:
    """Undo the post phase as `options.on_failure` says; a DeployResult, or None when nothing was undone."""
    if options.on_failure == "restore":
        why = _cannot_restore(options, deployed, before)
        if why is None:
            return _restore(options, deployed, before, failure, changes, emit)
    elif options.on_failure == "rollback":
        why = _cannot_roll_back(deployed, dropped)
        if why is None:
            return _roll_back(options, deployed, before, failure, changes, emit)
    else:
        return None
    emit(Event("not_undone", f"Not undone (--on-failure {options.on_failure}): {why}.", {"reason": why}))
    return None


def _cannot_restore(options: Any, deployed: Any, before: Any) -> str | None:
    if deployed.backup_id is None:
        return ("no backup was taken before the post phase (--no-backup)" if not options.backup
                else "no backup was taken before the post phase (it had no migration to apply)")
    if before.schema is None:
        return "the state before the post phase was not read"
    return None


def _cannot_roll_back(deployed: Any, dropped: Sequence[str]) -> str | None:
    if dropped:
        return (f"the dropped default(s) of {', '.join(dropped)} cannot be put back by a rollback (their values"
                " are not recorded); '--on-failure restore' puts back the backup instead")
    if not deployed.applied:
        return "the post phase applied no migration"
    lossy = [f"{entry.app}.{entry.name} ({op.kind}: {op.rollback.describe()})"
             for entry in deployed.plan.migrations for op in entry.operations
             if op.rollback is None or op.rollback.kind != "exact"]
    if lossy:
        return (f"the reverse of {'; '.join(lossy)} is not exact; 'pilot rollback --accept-data-loss' or"
                f" 'pilot restore {deployed.backup_id}' when that is what you want" if deployed.backup_id else
                f"the reverse of {'; '.join(lossy)} is not exact; 'pilot rollback --accept-data-loss' when that is"
                " what you want")
    return None


def _restore(options: Any, deployed: Any, before: Any, failure: str, changes: Sequence[str],
             emit: EventSink) -> Any:
    from migration_pilot.backup import find_backup, restore_backup
    from migration_pilot.backup.errors import DiscardWritesRequiredError
    from migration_pilot.backup.position import OwnWrites, WriteWatch
    from migration_pilot.pipeline.deploy import EXIT_NEEDS_PERSON, DeployResult
    from migration_pilot.pipeline.preflight import connect

    alias, backup_id = options.alias, deployed.backup_id
    connection = connect(alias)
    # The deploy counted its own writes from right before it applied (its watch, left on the connection);
    # with none, every write since the position counts as someone else's: the answer errs towards refusing.
    own = next((w for w in connection.execute_wrappers if isinstance(w, OwnWrites)), None) or OwnWrites()
    watch = WriteWatch(connection, before.position, own) if before.position is not None else None
    run, rows = _run_and_rows(alias, deployed.run_id)
    left = "; ".join(changes)
    held = lock.acquire(connection, wait=options.wait)
    try:
        emit(Event("restore_started", f"Restoring backup {backup_id} (taken before the post phase)..."))
        try:
            restore_backup(find_backup(backup_id, options.backup_dir), alias=alias, since=watch,
                           discard_writes=options.discard_writes)
        except DiscardWritesRequiredError as exc:
            message = (f"Post-deploy check failed after the post phase: {failure}. Not restored: {exc} Left as"
                       f" is: {left}. Restore by hand when those writes are dealt with: 'pilot restore {backup_id}"
                       " --yes --discard-writes'.")
            _finish(alias, run, rows, "failed", message)  # nothing was touched: the run is there as it was
            return DeployResult(EXIT_NEEDS_PERSON, "failed", message, run_id=deployed.run_id,
                                applied=deployed.applied, backup_id=backup_id, plan=deployed.plan)
        except Exception as exc:
            message = (f"Post-deploy check failed after the post phase ({failure}) and restoring backup"
                       f" {backup_id} failed too: {exc}. Restore it by hand: 'pilot restore {backup_id} --yes'.")
            message += _finish(alias, run, rows, "failed", message, restored=True)
            return DeployResult(EXIT_NEEDS_PERSON, "failed", message, run_id=deployed.run_id,
                                applied=deployed.applied, backup_id=backup_id, plan=deployed.plan)
    finally:
        held.release()
    return _proven(options, deployed, before, run, rows, "restored", True,
                   f"Post-deploy check failed after the post phase: {failure}. Restored backup {backup_id}"
                   " (taken before the post phase)")


def _roll_back(options: Any, deployed: Any, before: Any, failure: str, changes: Sequence[str],
               emit: EventSink) -> Any:
    from migration_pilot.pipeline.deploy import EXIT_NEEDS_PERSON, DeployResult, run_deploy
    from migration_pilot.pipeline.rollback import consent_gate

    keys: list[MigrationKey] = [r.key for r in deployed.applied]
    emit(Event("rollback_started", f"Rolling back the {len(keys)} post-deploy migration(s) of this phase (every"
               " reverse is exact)..."))
    what = f"the post phase (run #{deployed.run_id})"
    back = run_deploy(dataclasses.replace(
        options, kind="rollback", unapply=list(reversed(keys)), target=None, checks=[], backup=False,
        on_failure="stop", phase="all", maintain=False, dry_run=False,
        # a guard only: exact reverses lose nothing, so this never asks
        before_apply=consent_gate(what, accept=False, confirm=None, dry_run=False, backup_id=deployed.backup_id,
                                  emit=emit)), emit=emit)
    run, rows = _run_and_rows(options.alias, deployed.run_id)
    if back.exit_code != 0:
        message = (f"Post-deploy check failed after the post phase ({failure}) and rolling it back failed:"
                   f" {back.message} Left as is before that: {'; '.join(changes)}.")
        _finish(options.alias, run, rows, "failed", message)
        return DeployResult(EXIT_NEEDS_PERSON, "failed", message, run_id=deployed.run_id,
                            applied=deployed.applied, backup_id=deployed.backup_id, plan=deployed.plan)
    names = ", ".join(f"{app}.{name}" for app, name in reversed(keys))
    return _proven(options, deployed, before, run, rows, "rolled_back", False,
                   f"Post-deploy check failed after the post phase: {failure}. Rolled back {names} (run"
                   f" #{back.run_id}; every reverse is exact)")


def _proven(options: Any, deployed: Any, before: Any, run: Any, rows: Sequence[Any], outcome: str,
            restored: bool, prefix: str) -> Any:
    """Exit 3 when the schema and applied migrations equal those before the phase, else 4 naming the difference."""
    from django.db import connections

    from migration_pilot.pipeline.deploy import EXIT_NEEDS_PERSON, EXIT_ROLLED_BACK, DeployResult
    from migration_pilot.pipeline.fingerprint import fingerprint_difference, schema_fingerprint

    problems = fingerprint_difference(before.schema, schema_fingerprint(connections[options.alias]))
    now = history.applied_now(options.alias)
    extra, missing = sorted(now - before.applied), sorted(before.applied - now)
    if extra:
        problems.append("still applied: " + ", ".join(f"{a}.{n}" for a, n in extra))
    if missing:
        problems.append("no longer applied: " + ", ".join(f"{a}.{n}" for a, n in missing))
    if problems:
        message = (f"{prefix}, but the database is NOT back at its state before the post phase:"
                   f" {'; '.join(problems)}. Inspect it with 'pilot verify' before deploying again.")
        message += _finish(options.alias, run, rows, "failed", message, restored=restored)
        return DeployResult(EXIT_NEEDS_PERSON, "failed", message, run_id=deployed.run_id,
                            applied=deployed.applied, backup_id=deployed.backup_id, plan=deployed.plan)
    message = (f"{prefix}; the database is back at its state before the post phase (schema and migration history"
               " verified).")
    message += _finish(options.alias, run, rows, outcome, message, restored=restored)
    return DeployResult(EXIT_ROLLED_BACK, outcome, message, run_id=deployed.run_id, applied=deployed.applied,
                        backup_id=deployed.backup_id, plan=deployed.plan)


def _run_and_rows(alias: str, run_id: int | None) -> tuple[Any, list[Any]]:
    """The post phase's run and its migration rows, read before a restore replaces the history tables."""
    from migration_pilot.models import DeployRun

    run = DeployRun.objects.using(alias).filter(id=run_id).first() if run_id is not None else None
    return run, list(run.migrations.all()) if run is not None else []


def _finish(alias: str, run: Any, rows: Sequence[Any], outcome: str, message: str, *,
            restored: bool = False) -> str:
    """Record how the post phase's run ended; "" or a sentence saying why it could not be.

    After a restore (or a failed one) the history tables hold the backup's copy of
    the run, as 'running': it is written again, whole, or the next deploy would
    take it for an interrupted run.
    """
    if run is None:
        return ""
    if not restored:
        history.finish_run(run, outcome, error=message)
        return ""
    from django.db import connections
    from django.utils import timezone

    run.outcome, run.error, run.finished_at = outcome, message, timezone.now()
    try:
        history.rerecord_run(alias, run, rows)
        return ""
    except Exception:
        connections[alias].close()  # a failed restore may leave the connection in a broken transaction
    try:
        history.rerecord_run(alias, run, rows)
        return ""
    except Exception as exc:
        return f" (This run could not be recorded either: {type(exc).__name__}: {exc}.)"
