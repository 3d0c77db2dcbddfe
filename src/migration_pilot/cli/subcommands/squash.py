"""`pilot squash APP [START] END` and `pilot squash APP --finish`: Django's squashmigrations, checked."""

from __future__ import annotations

import argparse
from typing import Any

from migration_pilot.cli.commands import EXIT_OK, Streams

NAME = "squash"
HELP = ("Squash APP's migrations START..END with Django's squashmigrations once every database is past END,"
        " listing the RunPython/RunSQL it keeps; --finish later deletes the replaced migrations once every"
        " database has applied the squashed one.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `pilot squash`."""
    parser.add_argument("app_label")
    parser.add_argument("names", nargs="*", metavar="migration",
                        help="START END, or END alone (from the app's first migration); with --finish,"
                             " optionally the squashed migration.")
    parser.add_argument("--finish", action="store_true",
                        help="Delete the replaced migrations, drop 'replaces', retarget dependencies.")
    parser.add_argument("--force", action="store_true", help="Squash even when a database is not past END.")
    parser.add_argument("--dry-run", action="store_true", help="Check and show; write nothing.")
    parser.add_argument("--squashed-name", help="Name of the squashed migration (as squashmigrations).")
    parser.add_argument("--no-optimize", action="store_true", help="As squashmigrations --no-optimize.")


def run(options: dict[str, Any], streams: Streams) -> int:
    """Exit 0 done (or checked), 1 refused because of a database, 2 bad input."""
    from migration_pilot.exceptions import UnknownAppError
    from migration_pilot.graphfix import maxfile, squash
    from migration_pilot.graphfix.databases import describe_unchecked, known_databases
    from migration_pilot.loader import load_graph

    app, names = options["app_label"], list(options.get("names") or [])
    loaded = load_graph()
    if app not in loaded.apps_with_migrations():
        raise UnknownAppError(app, known=loaded.apps_with_migrations())
    dry_run = bool(options.get("dry_run"))
    states = known_databases()
    if options.get("finish"):
        if len(names) > 1:
            raise squash.SquashInputError("--finish takes at most one migration (the squashed one).")
        finish = squash.plan_finish(loaded.loader, app, names[0] if names else None, states)
        _verdicts(streams, finish.verdicts, describe_unchecked(states))
        for change in finish.changes:
            if dry_run:
                streams.out.write(change.diff())
        for path in finish.deletions:
            streams.out.write(f"{'would delete' if dry_run else 'deleted'} {path}\n")
        if dry_run:
            streams.out.write("Nothing written (--dry-run).\n")
            return EXIT_OK
        squash.apply_finish(finish)
        for change in finish.changes:
            streams.out.write(f"updated {change.path}\n")
        streams.out.write(f"{app}.{finish.squashed[1]} is an ordinary migration now.\n")
        return EXIT_OK
    if len(names) not in {1, 2}:
        raise squash.SquashInputError("Give the range as START END (or END alone), e.g. 'pilot squash shop 0001"
                                      " 0004', or pass --finish.")
    start, end = (names[0], names[1]) if len(names) == 2 else (None, names[0])
    check = squash.check_range(loaded.loader, app, start, end, states)
    streams.out.write(f"Range: {app} {check.keys[0][1]}..{check.keys[-1][1]} ({len(check.keys)} migrations)\n")
    _verdicts(streams, check.verdicts, describe_unchecked(states))
    if check.safe_end is not None:
        streams.out.write(f"Safe to squash up to {check.safe_end[1]}: every database that has {app}'s migrations"
                          " is past it.\n")
    if check.kept:
        streams.out.write("RunPython/RunSQL in the range:\n")
        for op in check.kept:
            fate = ("elidable: dropped by the squash" if op.elidable else
                    "not elidable: kept, and nothing is optimised across it")
            streams.out.write(f"  {op.key[1]}: {op.kind} {op.what} ({fate})\n")
    if not check.safe and not options.get("force"):
        blocked = next(v for v in check.verdicts if not v.ok)
        raise squash.SquashRefusedError(
            f"Refusing to squash {app} up to {check.keys[-1][1]}: database {blocked.label} {blocked.reason}."
            " Deploy it past the range first, or pass --force.")
    if dry_run:
        streams.out.write("Nothing written (--dry-run).\n")
        return EXIT_OK
    printed = squash.squash(app, start, end, squashed_name=options.get("squashed_name"),
                            no_optimize=bool(options.get("no_optimize")))
    streams.out.write(printed)
    if "Manual porting required" in printed:
        streams.out.write("The squashed migration does not load until those functions are copied into it;"
                          " do that before committing it.\n")
    elif maxfile.max_file_path(check.directory).exists():
        state = maxfile.status(load_graph().loader, app)
        if state is not None and maxfile.write(state):
            streams.out.write(f"Updated {state.path}: {state.expected}\n")
    streams.out.write(f"Once every database has applied the squashed migration, run 'pilot squash {app}"
                      " --finish'.\n")
    return EXIT_OK


def _verdicts(streams: Streams, verdicts: Any, unchecked: list[str]) -> None:
    for verdict in verdicts:
        streams.out.write(f"  database {verdict.label}: {verdict.reason}\n")
    for line in unchecked:
        streams.out.write(f"  warning: {line}\n")
