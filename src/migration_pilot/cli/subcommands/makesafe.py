"""`pilot makesafe APP MIGRATION`: rewrite the migration's unsafe operations into their online twins."""

from __future__ import annotations

import argparse
import difflib
from typing import Any

from migration_pilot.cli.commands import EXIT_OK, Streams
from migration_pilot.conf import load_config

NAME = "makesafe"
HELP = ("Rewrite a migration so the operations lint flags run online (AddIndex -> AddIndexOnline, ...,"
        " atomic = False), keeping comments and code. --diff shows the change without writing it.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `pilot makesafe`."""
    parser.add_argument("app_label")
    parser.add_argument("migration_name", help="Name or unique prefix, e.g. 0007.")
    parser.add_argument("--vendor", choices=["postgresql", "mysql", "sqlite"],
                        help="Judge for this database instead of the default alias's ENGINE.")
    parser.add_argument("--diff", action="store_true", help="Print a unified diff; write nothing.")


def run(options: dict[str, Any], streams: Streams) -> int:
    """Rewrite (or show) the migration; exit 0, or 2 for an unknown migration or a file it cannot edit."""
    from migration_pilot.exceptions import UnknownAppError
    from migration_pilot.lint import lint
    from migration_pilot.loader import load_graph
    from migration_pilot.makesafe import make_safe, write
    from migration_pilot.plan.build import UnknownTargetError

    app, name = options["app_label"], options["migration_name"]
    loader = load_graph().loader
    known = {a for a, _ in loader.disk_migrations}
    if app not in known:
        raise UnknownAppError(app, known=known)
    try:
        migration = loader.get_migration_by_prefix(app, name)
    except Exception:  # KeyError (none) or AmbiguityError (several)
        raise UnknownTargetError(app, name) from None
    result = lint([app], config=load_config(), vendor=options.get("vendor"))
    findings = [d for d in result.diagnostics if (d.app, d.migration) == (app, migration.name)]
    rewrite = make_safe(migration, findings, loader.project_state((app, migration.name), at_end=False))
    label = f"{app}.{migration.name}"
    if not rewrite.changed:
        streams.out.write(f"{label}: nothing to rewrite (no finding the online operations fix).\n")
        for warning in rewrite.warnings:
            streams.out.write(f"   warning: {warning}\n")
        return EXIT_OK
    if options.get("diff"):
        streams.out.writelines(difflib.unified_diff(
            rewrite.original.splitlines(keepends=True), rewrite.text.splitlines(keepends=True),
            fromfile=str(rewrite.path), tofile=str(rewrite.path)))
        for path, text in rewrite.new_files:
            streams.out.writelines(difflib.unified_diff([], text.splitlines(keepends=True), fromfile="/dev/null",
                                                        tofile=str(path)))
        return EXIT_OK
    write(rewrite)
    streams.out.write(f"Rewrote {rewrite.path}:\n")
    for line in rewrite.replaced:
        streams.out.write(f"   {line}\n")
    for path, _text in rewrite.new_files:
        streams.out.write(f"Wrote {path}: the contract step, post-deploy ('pilot deploy --phase pre', roll out the"
                          " code, then 'pilot deploy --phase post')\n")
    if "atomic = False" in rewrite.text and "atomic = False" not in rewrite.original:
        streams.out.write("   atomic = False (online operations build and validate outside a transaction)\n")
    for warning in rewrite.warnings:
        streams.out.write(f"   warning: {warning}\n")
    streams.out.write(f"Check it with 'pilot lint {app}' and 'pilot plan'.\n")
    return EXIT_OK
