"""`pilot rollback`: undo the last deploy (or go back to a migration), with a deploy's safety.

It names the run it undoes. A rollback whose reverses lose data (a column's
values dropped, a dropped column re-created empty, a data migration whose
reverse is a noop) or cannot run is refused (exit 1) unless --accept-data-loss
is given or, on a terminal, the person types 'yes'; without a terminal consent
is never assumed.
"""

from __future__ import annotations

import argparse
import functools
from typing import Any

from migration_pilot.cli import fleet_output
from migration_pilot.cli.commands import Streams
from migration_pilot.cli.subcommands import deploy

NAME = "rollback"
HELP = "Undo the last deploy (or --to APP MIGRATION) under the deploy lock and timeouts; lost data needs consent."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `pilot rollback`."""
    parser.add_argument("--database", default="default")
    parser.add_argument("--to", nargs=2, metavar=("APP", "MIGRATION"),
                        help="Unapply down to this migration (or 'zero') instead of the last deploy.")
    parser.add_argument("--accept-data-loss", action="store_true",
                        help="Roll back even when a reverse loses data (drops a column holding values, re-creates"
                        " a dropped one empty, a RunPython.noop reverse). Without it such a rollback is refused,"
                        " or asked about on a terminal.")
    parser.add_argument("--no-backup", action="store_true")
    parser.add_argument("--backup-dir")
    parser.add_argument("--lock-timeout", help="Per statement, as for deploy (default: PostgreSQL 100ms, MySQL 1s,"
                        " SQLite 5s).")
    parser.add_argument("--statement-timeout")
    parser.add_argument("--lock-wait-budget", help="How long to keep retrying lock timeouts (default 5min).")
    parser.add_argument("--retries", type=int, help="At most this many retries after a lock timeout.")
    parser.add_argument("--retry-delay", help="First backoff delay, doubled each retry up to 10s (default 1s).")
    parser.add_argument("--blocker-wait", help="How long to wait for sessions holding locks on the tables before"
                        " going on under the lock timeout (default 10s).")
    parser.add_argument("--no-online", dest="online", action="store_false",
                        help="Run every reverse statement as Django writes it (PostgreSQL: no online form).")
    parser.add_argument("--wait")
    parser.add_argument("--dry-run", action="store_true")
    parser.add_argument("--metrics-file")
    parser.add_argument("--format", choices=["text", "json"], default="text", dest="output_format")
    fleet_output.add_rollback_arguments(parser)


def run(options: dict[str, Any], streams: Streams) -> int:
    """Roll back; exit 0 done, 1 nothing to roll back or refused (data loss without consent), 3/4 as for deploy."""
    from migration_pilot.cli.subcommands.backup import stdin_is_tty
    from migration_pilot.pipeline.rollback import run_rollback

    def confirm(question: str) -> bool:
        streams.err.write(f"{question}\nType 'yes' to roll back anyway: ")
        streams.err.flush()
        try:
            return input().strip().lower() == "yes"
        except EOFError:
            return False

    if options.get("fleet"):
        return fleet_output.run_rollback(options, streams, confirm if stdin_is_tty() else None)
    deploy_options = deploy.build_options({**options, "fail_on": "never", "no_verify": False},
                                          kind="rollback")
    runner = functools.partial(run_rollback, accept_data_loss=bool(options.get("accept_data_loss")),
                               confirm=confirm if stdin_is_tty() else None)
    return deploy.execute(deploy_options, options, streams, runner)
