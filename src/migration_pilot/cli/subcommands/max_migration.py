"""`pilot max-migration write|check [APP ...]`: the per-app file naming the latest migration."""

from __future__ import annotations

import argparse
from typing import Any

from migration_pilot.cli.commands import EXIT_FINDINGS, EXIT_OK, Streams

NAME = "max-migration"
HELP = ("Write or check <app>/migrations/max_migration.txt, naming the app's latest migration, so two branches"
        " adding migrations to one app conflict in git. check exits 1 when a file is missing or stale or an"
        " app has several leaves.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `pilot max-migration`."""
    parser.add_argument("action", choices=["write", "check"])
    parser.add_argument("app_labels", nargs="*", metavar="app_label",
                        help="Apps (default: every app inside the project).")
    parser.add_argument("--dry-run", action="store_true", help="write: say what would change; write nothing.")


def run(options: dict[str, Any], streams: Streams) -> int:
    """Exit 0 up to date (or written), 1 a file is missing or stale or an app has several leaves."""
    from migration_pilot.graphfix import maxfile
    from migration_pilot.graphfix.selection import select_apps
    from migration_pilot.loader import load_graph

    loaded = load_graph()
    problems = 0
    for app in select_apps(loaded, options.get("app_labels") or ()):
        state = maxfile.status(loaded.loader, app)
        if state is None:
            continue
        if options["action"] == "check" or state.expected is None:
            if state.problem:
                streams.out.write(f"{app}: {state.problem}\n")
                problems += 1
            continue
        if state.problem and options.get("dry_run"):
            streams.out.write(f"{app}: would write {state.path}: {state.expected}\n")
        elif state.problem and maxfile.write(state):
            streams.out.write(f"{app}: wrote {state.path}: {state.expected}\n")
    if problems:
        return EXIT_FINDINGS
    if options["action"] == "check":
        streams.out.write("Every max_migration.txt names its app's latest migration.\n")
    return EXIT_OK
