"""All or nothing across a fleet: PREPARE TRANSACTION per tenant, then COMMIT PREPARED or ROLLBACK PREPARED.

The decision is written to the run's history row before the first COMMIT
PREPARED, so a run killed half-way through either phase is finished by the
next one: prepared transactions carrying an earlier run's gid prefix are
committed when that run had decided to commit, rolled back otherwise. Fleet
deploys and fleet rollbacks share it: run ids are unique across both kinds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from migration_pilot.exceptions import PilotError
from migration_pilot.pipeline.events import Event, EventSink

GID_PREFIX = "pilot-fleet-"
DECISION = "fleet_decision"


class PreparedTransactionsUnavailableError(PilotError, RuntimeError):
    """The server cannot hold as many prepared transactions as --atomic-fleet needs."""

    exit_code = 2

    def __init__(self, setting: int, in_use: int, needed: int) -> None:
        self.setting, self.in_use, self.needed = setting, in_use, needed

    def __str__(self) -> str:
        if self.setting == 0:
            why = "the server has prepared transactions off (max_prepared_transactions = 0)"
        else:
            why = (f"the server allows {self.setting} prepared transactions (max_prepared_transactions) and"
                   f" {self.in_use} are in use")
        return (f"--atomic-fleet needs {self.needed} prepared transactions at once, but {why}. Set"
                f" max_prepared_transactions = {self.in_use + self.needed} or more in postgresql.conf (or ALTER"
                " SYSTEM SET max_prepared_transactions = ...) and restart PostgreSQL, or bound the window with"
                " --atomic-window N (each window all or nothing), or deploy without --atomic-fleet (resumable).")


@dataclass(frozen=True, slots=True)
class Capacity:
    """max_prepared_transactions and how many prepared transactions exist now (server-wide)."""

    setting: int
    in_use: int

    @property
    def free(self) -> int:
        """Prepared transactions this run may hold."""
        return max(0, self.setting - self.in_use)


def capacity(cursor: Any) -> Capacity:
    """Read max_prepared_transactions and pg_prepared_xacts from the server."""
    cursor.execute("SELECT current_setting('max_prepared_transactions')::int,"
                   " (SELECT count(*) FROM pg_prepared_xacts)")
    setting, in_use = cursor.fetchone()
    return Capacity(int(setting), int(in_use))


def window(cap: Capacity, pending: int, requested: int | None) -> int:
    """How many tenants may be prepared at once; refuses (raises) when the server cannot hold the window."""
    wanted = min(pending, requested) if requested else pending
    if wanted > cap.free or cap.setting == 0:
        raise PreparedTransactionsUnavailableError(cap.setting, cap.in_use, max(wanted, 1))
    return wanted


def gid(run_id: int, tenant: str) -> str:
    """The global transaction id of one tenant's prepared transaction in run `run_id`."""
    return f"{GID_PREFIX}{run_id}:{tenant}"


def orphans(cursor: Any) -> dict[int, list[str]]:
    """Prepared transactions of earlier fleet runs in this database, by run id."""
    cursor.execute("SELECT gid FROM pg_prepared_xacts WHERE database = current_database() AND gid LIKE %s"
                   " ORDER BY prepared", [GID_PREFIX + "%"])
    found: dict[int, list[str]] = {}
    for (name,) in cursor.fetchall():
        run, _, _tenant = name[len(GID_PREFIX):].partition(":")
        if run.isdigit():
            found.setdefault(int(run), []).append(name)
    return found


def tenant_of(name: str) -> str:
    """The tenant a gid belongs to."""
    return name.partition(":")[2]


def finish(cursor: Any, gids: list[str], *, commit: bool,
           progress: Callable[[str], None] | None = None) -> list[tuple[str, str]]:
    """COMMIT PREPARED (or ROLLBACK PREPARED) each gid; the (gid, error) pairs that failed."""
    from migration_pilot.fleet.replay import first_line, quote_literal

    verb = "COMMIT PREPARED" if commit else "ROLLBACK PREPARED"
    failed: list[tuple[str, str]] = []
    for name in gids:
        try:
            cursor.execute(f"{verb} {quote_literal(name)}")
        except Exception as exc:
            failed.append((name, first_line(exc)))
        if progress is not None:
            progress(name)
    return failed


def conclude(connection: Any, run: Any, gids: list[str], *, commit: bool) -> list[tuple[str, str]]:
    """Finish one window's prepared transactions; a commit is recorded on `run` first (see the module docstring)."""
    if commit:
        run.options[DECISION] = "commit"
        run.save(using=run._state.db, update_fields=["options"])
    with connection.cursor() as cursor:
        failed = finish(cursor, gids, commit=commit)
    if commit:
        run.options.pop(DECISION, None)
        run.save(using=run._state.db, update_fields=["options"])
    return failed


# What a tenant's record says once its prepared transaction is committed / rolled back, per kind of run.
SETTLED = {"deploy": ("migrated", "rolled_back"), "rollback": ("rolled_back", "unchanged")}


def settle_window(connection: Any, run: Any, prepared: list[Any], *, commit: bool, kind: str,
                  emit: EventSink) -> None:
    """Commit or roll back one window's prepared tenants and mark each result as settled for `kind`.

    Shared by fleet deploy and fleet rollback: the decision is recorded on the
    run before a commit (conclude), and transactions that did not finish are
    left for the next fleet run's recover(), with a warning now.
    """
    failed = conclude(connection, run, [r.gid for r in prepared if r.gid], commit=commit)
    if failed:
        emit(Event("warning", f"Warning: {len(failed)} prepared transaction(s) did not finish (first:"
                   f" {failed[0][0]}: {failed[0][1]}); the next fleet deploy or rollback finishes them."))
    for result in prepared:
        result.outcome = SETTLED[kind][0 if commit else 1]


def recover(connection: Any, emit: EventSink) -> None:
    """Finish prepared transactions a killed fleet run left: commit if it had decided to, else roll back."""
    from django.utils import timezone

    from migration_pilot.models import DeployRun, FleetTenant

    with connection.cursor() as cursor:
        found = orphans(cursor)
    for run_id, gids in found.items():
        run = DeployRun.objects.using(connection.alias).filter(id=run_id).first()
        commit = bool(run and run.options.get(DECISION) == "commit")
        with connection.cursor() as cursor:
            failed = finish(cursor, gids, commit=commit)
        tenants = [tenant_of(g) for g in gids]
        kind = run.kind if run is not None and run.kind in SETTLED else "deploy"
        if run is not None:
            FleetTenant.objects.using(connection.alias).filter(run=run, tenant__in=tenants).update(
                outcome=SETTLED[kind][0 if commit else 1], finished_at=timezone.now())
        verb = "Committed" if commit else "Rolled back"
        emit(Event("recovered", f"{verb} {len(gids) - len(failed)} prepared transaction(s) left by interrupted"
                   f" fleet {kind} #{run_id} ({'it had decided to commit' if commit else 'it had not decided'})."))
