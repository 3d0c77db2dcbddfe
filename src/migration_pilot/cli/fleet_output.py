"""`pilot plan|deploy|history --fleet`: flags, progress bar, and the per-tenant summary."""

from __future__ import annotations

import argparse
import json
import statistics
from typing import Any

from migration_pilot.cli.commands import EXIT_OK, Streams, split_list


def add_plan_arguments(parser: argparse.ArgumentParser) -> None:
    """--fleet for `pilot plan` (and the flags it shares with deploy)."""
    parser.add_argument("--fleet", action="store_true", help="Plan every tenant schema (or, with --database all"
                        " or a list, every database): groups by applied set, tenants at the target skipped.")
    parser.add_argument("--schemas", help="With --fleet: only these tenant schemas (comma-separated).")


def add_deploy_arguments(parser: argparse.ArgumentParser) -> None:
    """--fleet and its flags for `pilot deploy`."""
    add_plan_arguments(parser)
    parser.add_argument("--jobs", type=int, default=2, help="With --fleet: connections replaying at once"
                        " (default 2).")
    parser.add_argument("--atomic-fleet", action="store_true", help="With --fleet: all or nothing. Each tenant's"
                        " transaction is prepared (PREPARE TRANSACTION); all commit once every one is prepared,"
                        " or all roll back. PostgreSQL with max_prepared_transactions set.")
    parser.add_argument("--atomic-window", type=int, help="With --atomic-fleet: at most this many tenants"
                        " prepared at once; each window commits on its own (default: the whole fleet).")
    parser.add_argument("--resume", action="store_true", help="With --fleet: only the tenants the last fleet"
                        " deploy did not finish.")
    parser.add_argument("--keep-going", action="store_true", help="With --fleet (not atomic): go on with the"
                        " other tenants after one fails (default: stop dispatching).")


def add_rollback_arguments(parser: argparse.ArgumentParser) -> None:
    """--fleet and its flags for `pilot rollback`."""
    parser.add_argument("--fleet", action="store_true", help="Unapply, per tenant, what the last fleet deploy"
                        " (or --run) applied there and is still applied; run it again to finish one that failed.")
    parser.add_argument("--run", type=int, dest="fleet_run", metavar="ID",
                        help="With --fleet: the fleet deploy to undo (pilot history --fleet lists them).")
    parser.add_argument("--keep-going", action="store_true", help="With --fleet: go on with the other tenants"
                        " after one fails (default: stop dispatching).")
    parser.add_argument("--jobs", type=int, default=1, help="With --fleet: tenants rolled back at once, a"
                        " connection each (default 1).")
    parser.add_argument("--atomic-fleet", action="store_true", help="With --fleet: all or nothing. Each tenant's"
                        " rollback is prepared (PREPARE TRANSACTION); all commit once every one is prepared, or all"
                        " roll back. PostgreSQL schemas with max_prepared_transactions set.")
    parser.add_argument("--atomic-window", type=int, help="With --atomic-fleet: at most this many tenants"
                        " prepared at once; each window commits on its own (default: the whole fleet).")


def add_history_arguments(parser: argparse.ArgumentParser) -> None:
    """--fleet for `pilot history`."""
    parser.add_argument("--fleet", action="store_true", help="Show fleet deploys with the outcome per tenant.")


def _databases(options: dict[str, Any]) -> tuple[str, list[str] | None]:
    """(alias holding the history, databases of a multi-database fleet or None)."""
    value = options.get("database") or "default"
    if value == "all" or "," in value:
        return "default", ["all"] if value == "all" else split_list(value)
    return value, None


def run_plan(options: dict[str, Any], streams: Streams) -> int:
    """Print where the fleet stands and what each group would run."""
    from migration_pilot.fleet.deploy import FleetOptions, run_fleet_deploy

    alias, databases = _databases(options)
    result = run_fleet_deploy(FleetOptions(alias=alias, databases=databases, dry_run=True,
                                           schemas=split_list(options["schemas"]) if options.get("schemas") else None,
                                           fail_on=1000), emit=lambda e: None)
    plan = result.plan
    if plan is None:
        streams.out.write(result.message + "\n")
        return result.exit_code
    if options.get("output_format") == "json":
        streams.out.write(json.dumps(_plan_json(plan), indent=2) + "\n")
        return EXIT_OK
    out = streams.out
    out.write(f"Fleet: {plan.fleet.size} tenant(s) from {plan.fleet.source}; read in {plan.read_s:.2f}s.\n")
    out.write(f"At the target: {len(plan.at_head)}. To migrate: {len(plan.pending)} in {len(plan.groups)}"
              " group(s).\n")
    for number, group in enumerate(plan.groups, 1):
        path = "compiled SQL replayed per tenant" if group.script.replayable else (
            "Django's executor per tenant (runs Python or a non-atomic migration)")
        shown = ", ".join(group.tenants[:5]) + (f" and {len(group.tenants) - 5} more" if len(group.tenants) > 5 else "")
        out.write(f"\nGroup {number}: {len(group.tenants)} tenant(s) ({shown}); {path}\n")
        for app, name in group.script.keys:
            out.write(f"   -> {app}.{name}\n")
        if group.script.statements and not options.get("no_sql"):
            for statement in group.script.statements:
                out.write(f"      {statement}\n")
    for tenant in plan.missing_history:
        out.write(f"\n{tenant}: no django_migrations table; a fleet deploy leaves it alone.\n")
    for tenant, keys in plan.diverged.items():
        out.write(f"\n{tenant}: applied migrations not on disk ({', '.join(f'{a}.{n}' for a, n in keys)}).\n")
    return EXIT_OK


def _plan_json(plan: Any) -> dict[str, Any]:
    return {"source": plan.fleet.source, "tenants": plan.fleet.size, "at_head": plan.at_head,
            "missing_history": plan.missing_history,
            "diverged": {t: [list(k) for k in keys] for t, keys in plan.diverged.items()},
            "groups": [{"tenants": g.tenants, "migrations": [list(k) for k in g.script.keys],
                        "replayable": g.script.replayable, "sql": g.script.statements} for g in plan.groups]}


def fleet_options(options: dict[str, Any]) -> Any:
    """FleetOptions from the parsed flags (timeouts and retries as for `pilot deploy`)."""
    from migration_pilot.cli.subcommands.deploy import build_options
    from migration_pilot.fleet.deploy import FleetOptions

    single = build_options({**options, "database": _databases(options)[0]})
    alias, databases = _databases(options)
    return FleetOptions(alias=alias, databases=databases,
                        schemas=split_list(options["schemas"]) if options.get("schemas") else None,
                        dry_run=single.dry_run, fail_on=single.fail_on, timeouts=single.timeouts,
                        retry=single.retry, wait=single.wait, jobs=options.get("jobs") or 2,
                        atomic=bool(options.get("atomic_fleet")), atomic_window=options.get("atomic_window"),
                        resume=bool(options.get("resume")), keep_going=bool(options.get("keep_going")),
                        backup=single.backup, backup_dir=single.backup_dir,
                        undo_on_failure=options.get("on_failure", "rollback") != "stop")


def run_deploy(options: dict[str, Any], streams: Streams) -> int:
    """Deploy the fleet, with a progress bar on a terminal and a summary table at the end."""
    from migration_pilot.fleet.deploy import run_fleet_deploy

    as_json = options.get("output_format") == "json"
    fleet = fleet_options(options)
    events: list[dict[str, Any]] = []

    def emit(event: Any) -> None:
        events.append({"kind": event.kind, "message": event.message, **event.data})
        if not as_json:
            streams.out.write(event.message + "\n")
            streams.out.flush()

    with _progress(streams, enabled=streams.out.isatty() and not as_json) as progress:
        result = run_fleet_deploy(fleet, emit=emit, progress=progress)
    if as_json:
        streams.out.write(json.dumps({
            "exit_code": result.exit_code, "outcome": result.outcome, "message": result.message,
            "run_id": result.run_id, "window": result.window, "duration_s": result.duration_s,
            "backup_id": result.backup_id, "backups": result.backups,
            "tenants": [{"tenant": r.tenant, "outcome": r.outcome, "error": r.error, "duration_s": r.duration_s,
                         "retries": r.retries} for r in result.results],
            "not_attempted": result.not_attempted, "events": events}, indent=2, default=str) + "\n")
        return int(result.exit_code)
    if result.run_id is not None:
        streams.out.write(summary(result))
    streams.out.write(result.message + "\n")
    return int(result.exit_code)


def run_rollback(options: dict[str, Any], streams: Streams, confirm: Any) -> int:
    """Roll back a fleet deploy per tenant and print what happened.

    Exit 0 done, 1 refused or nothing to do, 2 usage, 3 failed under --atomic-fleet with no tenant changed,
    4 failed with some tenants rolled back.
    """
    from migration_pilot.cli.subcommands.deploy import build_options
    from migration_pilot.fleet.rollback import FleetRollbackOptions, run_fleet_rollback

    as_json = options.get("output_format") == "json"
    alias = _databases(options)[0]
    single = build_options({**options, "database": alias, "fail_on": "never"}, kind="rollback")
    events: list[dict[str, Any]] = []

    def emit(event: Any) -> None:
        events.append({"kind": event.kind, "message": event.message, **event.data})
        if not as_json:
            streams.out.write(event.message + "\n")
            streams.out.flush()

    result = run_fleet_rollback(FleetRollbackOptions(
        alias=alias, run_id=options.get("fleet_run"), dry_run=single.dry_run,
        accept_data_loss=bool(options.get("accept_data_loss")), timeouts=single.timeouts, wait=single.wait,
        keep_going=bool(options.get("keep_going")), jobs=options.get("jobs") or 1,
        atomic=bool(options.get("atomic_fleet")), atomic_window=options.get("atomic_window")),
        emit=emit, confirm=confirm)
    if as_json:
        streams.out.write(json.dumps({
            "exit_code": result.exit_code, "outcome": result.outcome, "message": result.message,
            "run_id": result.run_id, "deploy_id": result.deploy_id, "duration_s": result.duration_s,
            "window": result.window,
            "tenants": [{"tenant": r.tenant, "outcome": r.outcome, "error": r.error, "duration_s": r.duration_s,
                         "unapplied": [list(k) for k in r.applied]} for r in result.results],
            "not_attempted": result.not_attempted, "events": events}, indent=2, default=str) + "\n")
        return int(result.exit_code)
    streams.out.write(result.message + "\n")
    return int(result.exit_code)


class _progress:
    """A rich progress bar (done, failed, remaining, ETA) when writing to a terminal; else nothing."""

    def __init__(self, streams: Streams, *, enabled: bool) -> None:
        self.streams, self.enabled = streams, enabled
        self.bar: Any = None
        self.task: Any = None

    def __enter__(self) -> Any:
        if not self.enabled:
            return None
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        self.bar = Progress(TextColumn("tenants"), BarColumn(),
                            TextColumn("{task.fields[done]} done, {task.fields[failed]} failed,"
                                       " {task.fields[left]} remaining"), TimeRemainingColumn(),
                            console=Console(file=self.streams.out), transient=True)
        self.bar.start()
        return self.update

    def update(self, done: int, failed: int, total: int) -> None:
        """Called after each tenant."""
        assert self.bar is not None
        if self.task is None:
            self.task = self.bar.add_task("fleet", total=total, done=0, failed=0, left=total)
        self.bar.update(self.task, completed=done + failed, done=done, failed=failed, left=total - done - failed)

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()


def summary(result: Any) -> str:
    """The table at the end: migrated, at the target, failed (first error line each), not attempted, p50/p95."""
    plan = result.plan
    by: dict[str, list[Any]] = {}
    for r in result.results:
        by.setdefault(r.outcome, []).append(r)
    lines = ["", "Tenants:"]
    rows = [("migrated", len(by.get("migrated", []))), ("at the target", len(plan.at_head)),
            ("failed", len(by.get("failed", []))), ("rolled back", len(by.get("rolled_back", []))),
            ("not attempted", len(result.not_attempted)), ("no history table", len(plan.missing_history)),
            ("diverged", len(plan.diverged))]
    lines += [f"   {label:<17}{count:>7}" for label, count in rows if count or label in {"migrated", "failed"}]
    durations = sorted(r.duration_s for r in result.results if r.outcome != "failed")
    if durations:
        p95 = durations[min(len(durations) - 1, round(0.95 * (len(durations) - 1)))]
        lines.append(f"   per tenant       p50 {statistics.median(durations) * 1000:.0f} ms,"
                     f" p95 {p95 * 1000:.0f} ms")
    for r in by.get("failed", [])[:20]:
        lines.append(f"   failed {r.tenant}: {r.error}")
    if len(by.get("failed", [])) > 20:
        lines.append(f"   ... and {len(by['failed']) - 20} more failed (pilot history --fleet)")
    return "\n".join(lines) + "\n"


def run_history(options: dict[str, Any], streams: Streams) -> int:
    """Fleet deploys, newest first, with the count and the failures per tenant outcome."""
    from migration_pilot.models import DeployRun
    from migration_pilot.pipeline import history
    from migration_pilot.pipeline.preflight import connect

    alias = options.get("database") or "default"
    history.require_app()
    connect(alias)
    runs = [r for r in DeployRun.objects.using(alias).prefetch_related("tenants")[: max(options["limit"], 0) * 5]
            if r.options.get("fleet")][: options["limit"]] if history.require_readable(alias) else []
    if options.get("output_format") == "json":
        streams.out.write(json.dumps([{
            "id": r.id, "kind": r.kind, "outcome": r.outcome, "started_at": r.started_at.isoformat(),
            "error": r.error,
            "options": r.options,
            "tenants": [{"tenant": t.tenant, "alias": t.alias, "outcome": t.outcome, "error": t.error,
                         "duration_s": t.duration_s, "applied": t.applied} for t in r.tenants.all()],
        } for r in runs], indent=2) + "\n")
        return EXIT_OK
    if not runs:
        streams.out.write(f"No fleet deploys recorded on {alias}.\n")
        return EXIT_OK
    for r in runs:
        counts: dict[str, int] = {}
        for t in r.tenants.all():
            counts[t.outcome] = counts.get(t.outcome, 0) + 1
        shown = ", ".join(f"{n} {outcome.replace('_', ' ')}" for outcome, n in sorted(counts.items()))
        streams.out.write(f"#{r.id} fleet {r.kind} {r.outcome} {r.started_at:%Y-%m-%d %H:%M:%S} by {r.user}@{r.host}:"
                          f" {shown}\n")
        for t in r.tenants.all():
            if t.outcome == "failed":
                streams.out.write(f"   failed {t.tenant}: {t.error}\n")
        if r.error:
            streams.out.write(f"   {r.error}\n")
    return EXIT_OK
