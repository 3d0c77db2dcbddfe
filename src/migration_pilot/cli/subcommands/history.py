"""`pilot history`: past deploys and rollbacks, with per-migration figures."""

from __future__ import annotations

import argparse
import json
from typing import Any

from migration_pilot.cli import fleet_output
from migration_pilot.cli.commands import EXIT_OK, Streams

NAME = "history"
HELP = "Show recorded deploys and rollbacks with per-migration timings, retries and outcome."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `pilot history`."""
    parser.add_argument("--database", default="default")
    parser.add_argument("--limit", type=int, default=10)
    parser.add_argument("--format", choices=["text", "json"], default="text", dest="output_format")
    fleet_output.add_history_arguments(parser)


def run(options: dict[str, Any], streams: Streams) -> int:
    """Print the newest runs first."""
    if options.get("fleet"):
        return fleet_output.run_history(options, streams)
    from migration_pilot.pipeline import history
    from migration_pilot.pipeline.preflight import connect

    alias = options.get("database") or "default"
    history.require_app()
    from migration_pilot.models import DeployRun

    connect(alias)
    if options["limit"] < 0:
        from migration_pilot.exceptions import ConfigError

        raise ConfigError(f"Bad --limit {options['limit']}: give 0 or more runs to show", source="--limit")
    runs = list(DeployRun.objects.using(alias).prefetch_related("migrations")[: options["limit"]]
                ) if history.require_readable(alias) and options["limit"] else []
    if options.get("output_format") == "json":
        payload = [{
            "id": r.id, "kind": r.kind, "outcome": r.outcome, "started_at": r.started_at.isoformat(),
            "finished_at": r.finished_at.isoformat() if r.finished_at else None, "user": r.user,
            "host": r.host, "pid": r.pid, "alias": r.alias, "backup_id": r.backup_id, "error": r.error,
            "plan": r.plan,
            "maintenance": (r.options or {}).get("maintenance"),
            "migrations": [{"app": m.app, "name": m.name, "backwards": m.backwards, "outcome": m.outcome,
                            "duration_s": m.duration_s, "lock_wait_s": m.lock_wait_s,
                            "retries": m.retries, "rows_affected": m.rows_affected,
                            "wal_bytes": m.wal_bytes, "statements": m.statements, "error": m.error,
                            "impact": m.impact}
                           for m in r.migrations.all()],
        } for r in runs]
        streams.out.write(json.dumps(payload, indent=2) + "\n")
        return EXIT_OK
    if not runs:
        streams.out.write(f"No deploys recorded on {alias}.\n")
        return EXIT_OK
    for r in runs:
        took = f"{(r.finished_at - r.started_at).total_seconds():.1f}s" if r.finished_at else "-"
        streams.out.write(f"#{r.id} {r.kind} {r.outcome} {r.started_at:%Y-%m-%d %H:%M:%S} by {r.user}@{r.host}"
                          f" ({took}){' backup ' + r.backup_id if r.backup_id else ''}\n")
        for m in r.migrations.all():
            figures = [f"{m.duration_s:.2f}s" if m.duration_s is not None else "-"]
            if m.retries:
                figures.append(f"{m.retries} retries, {m.lock_wait_s:.1f}s waiting for locks")
            if m.rows_affected is not None:
                figures.append(f"{m.rows_affected} rows")
            if m.wal_bytes is not None:
                figures.append(f"{m.wal_bytes:,} WAL bytes server-wide")  # other sessions write WAL too
            if m.impact and m.impact.get("supported") and m.impact.get("sessions_blocked"):
                from migration_pilot.monitor import ImpactReport

                figures.append(ImpactReport.from_dict(m.impact).summary())
            arrow = "<-" if m.backwards else "->"
            streams.out.write(f"   {arrow} {m.app}.{m.name} {m.outcome} ({', '.join(figures)})\n")
        if r.outcome in {"running", "interrupted"}:
            # Migrations that run in one transaction get their row when they commit.
            for app, name in history.unfinished(r):
                if not any(m.app == app and m.name == name for m in r.migrations.all()):
                    streams.out.write(f"   .. {app}.{name} not finished\n")
        maintenance = (r.options or {}).get("maintenance")
        if maintenance and maintenance.get("statements"):  # what the deploy ran after itself (--maintain)
            shown = ", ".join(f"{m['sql']} ({m['duration_s']:.2f}s{'' if m['ok'] else ', failed'})"
                              for m in maintenance["statements"])
            streams.out.write(f"   maintenance: {shown}\n")
        if r.error:
            streams.out.write(f"   {r.error}\n")
    return EXIT_OK
