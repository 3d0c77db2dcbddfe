"""`pilot rollback`: undo the last deploy (or go back to a migration), with a deploy's safety."""

from __future__ import annotations

import argparse
from typing import Any

from migration_pilot.cli.commands import Streams
from migration_pilot.cli.subcommands import deploy

NAME = "rollback"
HELP = "Undo the last successful deploy (or --to APP MIGRATION) under the deploy lock and timeouts."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `pilot rollback`."""
    parser.add_argument("--database", default="default")
    parser.add_argument("--to", nargs=2, metavar=("APP", "MIGRATION"),
                        help="Unapply down to this migration (or 'zero') instead of the last deploy.")
    parser.add_argument("--no-backup", action="store_true")
    parser.add_argument("--backup-dir")
    parser.add_argument("--lock-timeout")
    parser.add_argument("--statement-timeout")
    parser.add_argument("--wait")
    parser.add_argument("--dry-run", action="store_true")
    parser.add_argument("--metrics-file")
    parser.add_argument("--format", choices=["text", "json"], default="text", dest="output_format")


def run(options: dict[str, Any], streams: Streams) -> int:
    """Roll back; exit 0 done, 1 nothing to roll back or refused, 3/4 as for deploy."""
    from migration_pilot.pipeline.rollback import run_rollback

    deploy_options = deploy.build_options({**options, "fail_on": "never", "no_verify": False},
                                          kind="rollback")
    return deploy.execute(deploy_options, options, streams, run_rollback)
