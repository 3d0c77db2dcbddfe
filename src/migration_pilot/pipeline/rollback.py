"""run_rollback(): undo exactly what the last deploy applied, like a deploy, naming it first.

Without --to, the migrations the latest deploy still has applied (a deploy
that succeeded, or one that failed or was interrupted after applying some)
are unapplied newest first, across apps. The rollback names that run, and
says so when it is not the latest run. A migration applied later that depends
on one of them makes the rollback refuse (use --to, which lets Django compute
the full backwards plan).

Before anything changes, every reverse is classified (analysis/reversal.py):
one that loses data (drops a column holding values, re-creates a dropped one
empty, a `RunPython.noop` reverse) or cannot run refuses the rollback unless
the person consents: `--accept-data-loss`, or "yes" at a terminal. A run
without a terminal never assumes consent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from migration_pilot.exceptions import MigrationLoadError
from migration_pilot.loader import executor_for
from migration_pilot.pipeline import history
from migration_pilot.pipeline.deploy import EXIT_REFUSED, DeployOptions, DeployResult, run_deploy
from migration_pilot.pipeline.events import Event, EventSink, ignore
from migration_pilot.pipeline.preflight import connect
from migration_pilot.types import MigrationKey

ROLLED_BACK_OUTCOMES = ("succeeded", "failed", "interrupted")
"""Deploy outcomes that can leave migrations applied (failed: --on-failure stop)."""
Confirm = Callable[[str], bool]


@dataclass(frozen=True)
class RollbackTarget:
    """The run a rollback undoes, and what of it is still applied (oldest first)."""

    run: Any
    keys: list[MigrationKey]
    latest: Any
    """The latest run of any kind: not `run` when later runs left nothing to roll back."""

    def describe(self) -> str:
        """'run #12 (deploy of 2026-12-05 12:00 UTC, 2 migrations: shop.0003_a, shop.0004_b)'."""
        outcome = "" if self.run.outcome == "succeeded" else f", {self.run.outcome}"
        names = ", ".join(f"{app}.{name}" for app, name in self.keys)
        return (f"run #{self.run.id} ({self.run.kind} of {self.run.started_at:%Y-%m-%d %H:%M} UTC{outcome},"
                f" {len(self.keys)} migration(s): {names})")


def rollback_target(alias: str) -> RollbackTarget | None:
    """The latest deploy whose migrations are (partly) still applied, or None."""
    from migration_pilot.models import DeployRun

    if not history.require_readable(alias):
        return None
    applied = history.applied_now(alias)
    runs = (DeployRun.objects.using(alias).filter(kind="deploy", outcome__in=ROLLED_BACK_OUTCOMES)
            .exclude(plan=[]).order_by("-id"))
    for run in runs[:100]:
        keys = [(m.app, m.name) for m in run.migrations.filter(outcome="applied", backwards=False)
                if (m.app, m.name) in applied]
        if keys:
            return RollbackTarget(run, keys, DeployRun.objects.using(alias).order_by("-id").first())
    return None


def last_deploy_migrations(alias: str) -> tuple[int, list[MigrationKey]] | None:
    """(run id, migrations it applied that are still applied, oldest first), or None."""
    target = rollback_target(alias)
    return (target.run.id, target.keys) if target is not None else None


def data_losses(plan: Any) -> list[str]:
    """'shop.0002_note: drops shop_invoice.note (3 non-null values)' for each reverse that loses data."""
    found = []
    for entry in plan.migrations:
        if not entry.backwards:
            continue
        for op in reversed(entry.operations):
            if op.rollback is not None and op.rollback.loses_data:
                verb = "cannot be reversed: " if op.rollback.kind == "impossible" else ""
                found.append(f"{entry.app}.{entry.name} ({op.kind}) {verb}{op.rollback.what}")
    return found


def consent_gate(what: str, *, accept: bool, confirm: Confirm | None, dry_run: bool, backup_id: str | None,
                 emit: EventSink) -> Callable[[Any], str | None]:
    """The deploy's `before_apply` for a rollback: None to go on, or the one-line refusal."""

    def gate(plan: Any) -> str | None:
        losses = data_losses(plan)
        if not losses:
            return None
        listed = "; ".join(losses)
        if accept:
            emit(Event("data_loss", f"Accepted data loss (--accept-data-loss): {listed}."))
            return None
        if confirm is not None and not dry_run and confirm(f"Rolling back {what} loses data: {listed}."):
            emit(Event("data_loss", f"Accepted data loss (confirmed at the terminal): {listed}."))
            return None
        restore = (f"'pilot restore {backup_id}' (the backup taken before it)" if backup_id
                   else "'pilot restore' from a backup taken before it ('pilot backups' lists them)")
        return (f"Refused: rolling back {what} loses data: {listed}. Pass --accept-data-loss to roll back anyway,"
                f" or restore instead: {restore}.")

    return gate


def run_rollback(options: DeployOptions, *, emit: EventSink = ignore, accept_data_loss: bool = False,
                 confirm: Confirm | None = None) -> DeployResult:
    """Unapply the last deploy's migrations (or go down to options.target), with consent for lost data.

    `confirm` asks a person (the CLI passes one only when stdin is a terminal);
    without it and without `accept_data_loss`, a rollback that loses data is refused.
    """
    history.require_app()
    connection = connect(options.alias)
    if history.require_readable(options.alias):
        cleaned = _undo_dirty(connection, options.alias, emit)
        if cleaned is not None:
            return cleaned
    what, backup_id = f"to {' '.join(options.target)}" if options.target else "", None
    if not options.target:
        target = rollback_target(options.alias)
        if target is None:
            return DeployResult(EXIT_REFUSED, "refused",
                                f"Nothing to roll back: no deploy with migrations still applied"
                                f" is recorded on {options.alias}.")
        run_id, keys = target.run.id, target.keys
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
        what, backup_id = target.describe(), target.run.backup_id or None
        emit(Event("rollback_plan", f"Rolling back {what}.", {"run_id": run_id}))
        latest = target.latest
        if latest is not None and latest.id != run_id:
            emit(Event("rollback_target", f"Note: the latest run, #{latest.id} ({latest.kind}, {latest.outcome}),"
                       f" has nothing still applied to undo: this rolls back the earlier run #{run_id}.",
                       {"latest_run_id": latest.id}))
        options.unapply = list(reversed(keys))
    options.before_apply = consent_gate(what, accept=accept_data_loss, confirm=confirm, dry_run=options.dry_run,
                                        backup_id=backup_id, emit=emit)
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
