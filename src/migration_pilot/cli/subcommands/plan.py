"""`pilot plan`: what `migrate` would do, with SQL, locks, table sizes, risk and lint findings."""

from __future__ import annotations

import argparse
import json
from typing import Any

from migration_pilot.cli import fleet_output
from migration_pilot.cli.commands import EXIT_OK, Streams
from migration_pilot.conf import load_config

NAME = "plan"
HELP = "Show what migrate would apply: SQL, locks, table sizes, risk and lint findings. Read-only."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `pilot plan`."""
    parser.add_argument("--database", default="default", help="Database alias to plan against.")
    parser.add_argument("--target", nargs=2, metavar=("APP", "MIGRATION"),
                        help="Plan to this migration (or 'zero'), backwards if needed.")
    parser.add_argument("--format", choices=["text", "json"], default="text", dest="output_format")
    parser.add_argument("--no-sql", action="store_true", help="Leave the SQL out of the text output.")
    fleet_output.add_plan_arguments(parser)


def run(options: dict[str, Any], streams: Streams) -> int:
    """Build and print the plan; exit 0 (the plan is information, deploy is the gate)."""
    if options.get("fleet"):
        return fleet_output.run_plan(options, streams)
    from migration_pilot.pipeline.history import duration_history
    from migration_pilot.pipeline.preflight import connect
    from migration_pilot.plan.build import build_plan

    alias = options.get("database") or "default"
    connect(alias)  # unreachable: one line naming the server, exit 2
    plan = build_plan(alias, target=options.get("target"), config=load_config(),
                      history=duration_history(alias))
    if options.get("output_format") == "json":
        streams.out.write(json.dumps(plan.to_json(), indent=2) + "\n")
    else:
        from migration_pilot.cli.plan_output import render_plan_text

        streams.out.write(render_plan_text(plan, sql=not options.get("no_sql")))
    return EXIT_OK
