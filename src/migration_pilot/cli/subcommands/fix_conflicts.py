"""`pilot fix-conflicts [APP ...]`: move a branch's migrations after the main line's, so history stays linear."""

from __future__ import annotations

import argparse
from typing import Any

from migration_pilot.cli.commands import EXIT_OK, Streams

NAME = "fix-conflicts"
HELP = ("When an app has two or more leaf migrations, renumber each branch's migrations after the main line's"
        " (branch after branch) and"
        " retarget their dependencies (--merge: Django's merge migration instead). Refuses when a moved"
        " migration is applied in a database or both sides change the same field.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `pilot fix-conflicts`."""
    parser.add_argument("app_labels", nargs="*", metavar="app_label",
                        help="Apps to fix (default: every app inside the project).")
    parser.add_argument("--base", metavar="GIT_REF",
                        help="Migrations whose files are not on this ref are the branch's (default: the"
                             " first of origin/HEAD, origin/main, origin/master, main, master).")
    parser.add_argument("--merge", action="store_true",
                        help="Write Django's merge migration (makemigrations --merge) instead of moving.")
    parser.add_argument("--dry-run", action="store_true", help="Show the changes as a diff; write nothing.")


def run(options: dict[str, Any], streams: Streams) -> int:
    """Exit 0 fixed (or nothing to fix), 1 refused, 2 bad input."""
    from migration_pilot.graphfix import conflicts, maxfile
    from migration_pilot.graphfix.databases import describe_unchecked, known_databases
    from migration_pilot.graphfix.selection import select_apps
    from migration_pilot.loader import load_graph

    loaded = load_graph()
    apps = select_apps(loaded, options.get("app_labels") or ())
    found = {app: sorted(names) for app, names in loaded.loader.detect_conflicts().items() if app in apps}
    if not found:
        streams.out.write(f"No conflicts: {', '.join(apps) or 'no app'} {'has' if len(apps) == 1 else 'have'}"
                          " one leaf migration each.\n")
        return EXIT_OK
    dry_run = bool(options.get("dry_run"))
    if options.get("merge"):
        streams.out.write(conflicts.merge(sorted(found), dry_run=dry_run))
        if not dry_run:
            fresh = load_graph().loader
            for app in sorted(found):
                state = maxfile.status(fresh, app)
                if state is not None and state.current is not None and maxfile.write(state):
                    streams.out.write(f"Updated {state.path}: {state.expected}\n")
        return EXIT_OK
    states = known_databases()
    for line in describe_unchecked(states):
        streams.out.write(f"warning: {line}; a moved migration applied there would not be noticed.\n")
    plans = [conflicts.plan_rebase(loaded.loader, app, found[app], base=options.get("base"), databases=states)
             for app in sorted(found)]
    paths = [c.path for plan in plans for c in plan.changes]
    if len(paths) != len(set(paths)):
        raise conflicts.RebaseRefusedError("Several apps' fixes edit the same file; fix one app at a time"
                                           f" ('pilot fix-conflicts {plans[0].app}').")
    for plan in plans:
        streams.out.write(f"{plan.app}: moving {len(plan.moves)} migration(s) after {plan.choice.main[1]}"
                          f" (the branch: {plan.choice.how})\n")
        for old, new in plan.moves:
            streams.out.write(f"  {old[1]} -> {new[1]}\n")
        if dry_run:
            for change in plan.changes:
                streams.out.write(change.diff())
            continue
        conflicts.apply(plan)
        for change in plan.changes:
            if not change.renamed:
                streams.out.write(f"  updated {change.path}\n")
    if dry_run:
        streams.out.write("Nothing written (--dry-run).\n")
    else:
        streams.out.write("Check with 'manage.py makemigrations --check' and 'manage.py migrate --plan'.\n")
    return EXIT_OK
