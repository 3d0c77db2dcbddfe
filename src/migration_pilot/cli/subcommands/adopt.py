"""`pilot adopt APP [MIGRATION]`: the checked `--fake`: record migrations as applied only if the schema matches."""

from __future__ import annotations

import argparse
from typing import Any

from migration_pilot.cli.commands import EXIT_FINDINGS, EXIT_OK, Streams

NAME = "adopt"
HELP = ("Record APP's migrations up to MIGRATION (default: its latest) as applied without running them, as"
        " migrate --fake does, but only after comparing the live schema with what they would create (built in a"
        " scratch database, as verify does). Refuses, naming each difference, and records nothing when they"
        " differ. Exit 0 adopted (or nothing to adopt), 1 refused, 2 error.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `pilot adopt`."""
    parser.add_argument("app_label", help="The app whose existing tables the migrations describe.")
    parser.add_argument("migration", nargs="?", help="Adopt up to this migration (name or unique prefix).")
    parser.add_argument("--database", default="default", help="Database alias.")
    parser.add_argument("--dry-run", action="store_true", help="Compare and report; record nothing.")


def run(options: dict[str, Any], streams: Streams) -> int:
    """Compare, record when nothing differs; exit 1 when the schema does not match."""
    from migration_pilot.pipeline.adopt import adopt

    result = adopt(options.get("database") or "default", options["app_label"], options.get("migration"),
                   dry_run=bool(options.get("dry_run")))
    names = ", ".join(f"{app}.{name}" for app, name in result.migrations)
    if not result.migrations:
        streams.out.write(f"Nothing to adopt on {result.alias!r}: {options['app_label']} is already applied"
                          " up to there.\n")
        return EXIT_OK
    if result.differences:
        streams.out.write(f"Refused: the schema of {result.alias!r} does not match what {names} would create;"
                          " nothing was recorded.\n")
        for d in result.differences:
            where = f"{d.table}.{d.object}" if d.object and d.object != d.table else d.table
            streams.out.write(f"  {d.kind}: {where} (expected: {d.expected or '(none)'};"
                              f" actual: {d.actual or '(none)'})\n")
        streams.out.write("Make the schema match (or write a migration for the difference), then adopt again.\n")
        return EXIT_FINDINGS
    if not result.recorded:
        streams.out.write(f"Would adopt on {result.alias!r}: {names} (the schema matches).\n")
        return EXIT_OK
    run_note = f" (pilot history run #{result.run_id})" if result.run_id is not None else ""
    streams.out.write(f"Adopted on {result.alias!r}: {names} recorded as applied; the schema matches{run_note}.\n")
    return EXIT_OK
