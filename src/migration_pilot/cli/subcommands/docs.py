"""`pilot docs`: one page per migration in the runbook's format, plus SQL, locks and findings."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from migration_pilot.cli.commands import EXIT_FINDINGS, EXIT_OK, Streams

NAME = "docs"
HELP = "Write one documentation page per migration (runbook format, SQL both ways, locks, findings)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `pilot docs`."""
    parser.add_argument("app_labels", nargs="*", metavar="app_label",
                        help="Apps to document (default: every app inside the project).")
    parser.add_argument("--output", default="docs/migrations", metavar="DIR",
                        help="Directory of the pages (default: docs/migrations).")
    parser.add_argument("--format", choices=["markdown", "json"], default="markdown", dest="output_format")
    parser.add_argument("--vendor", choices=["postgresql", "mysql", "mariadb", "sqlite"],
                        help="Write SQL, column types and locks for this database (default: the default"
                        " alias's ENGINE). Never connects.")
    parser.add_argument("--pg-version", help="PostgreSQL major version the SQL is written for.")
    parser.add_argument("--database", metavar="ALIAS",
                        help="Read measured durations from this alias's run history (connects; without it,"
                        " no database is touched).")
    parser.add_argument("--shadow-database", metavar="ALIAS",
                        help="Write the SQL Django's schema editor reads a name from the database for (dropping a"
                        " unique_together, say) from a scratch database created on this alias's server and"
                        " migrated to that point, then dropped (needs CREATEDB). The alias's own database is only"
                        " read; every other page stays byte-identical to the offline one.")
    parser.add_argument("--rehearsal", metavar="FILE",
                        help="Add the durations of this 'pilot rehearse --format json' report (no connection);"
                        " with --database, the rehearsals recorded in its run history are read too.")
    parser.add_argument("--all-apps", action="store_true",
                        help="Also document third-party apps installed outside the project.")
    parser.add_argument("--since", metavar="GIT_REF",
                        help="Only migrations added or changed since this git ref (no index pages).")
    parser.add_argument("--check", action="store_true",
                        help="Write nothing; exit 1 naming pages that are missing, stale or left over.")


def run(options: dict[str, Any], streams: Streams) -> int:
    """`pilot docs`: 0 written or up to date, 1 with --check when pages are out of date, 2 bad input."""
    from migration_pilot.cli.since import changed_paths
    from migration_pilot.conf import load_config, parse_pg_version
    from migration_pilot.docgen import pages
    from migration_pilot.docgen.migrations import build_docs, render_pages

    config = load_config()
    if options.get("pg_version"):
        config = config.with_overrides(pg_version=parse_pg_version(options["pg_version"], source="--pg-version"))
    paths = changed_paths(options["since"], config.project_root or Path.cwd()) if options.get("since") else None
    alias = options.get("database")
    measured, sources = _measured(alias, options.get("rehearsal"))
    docset = build_docs(config, app_labels=options.get("app_labels") or (), vendor=options.get("vendor"),
                        all_apps=bool(options.get("all_apps")), paths=paths, history_alias=alias,
                        measured=measured, measured_from=sources, shadow_alias=options.get("shadow_database"))
    _say_scratch(docset.scratch, options.get("shadow_database"), streams)
    output_format = options.get("output_format") or "markdown"
    rendered = render_pages(docset, output_format)
    extension = ".json" if output_format == "json" else ".md"
    directory = Path(options.get("output") or "docs/migrations")
    owned = sorted({relative.split("/", 1)[0] for relative in rendered if "/" in relative} | set(docset.apps))
    owned_dirs = owned if docset.complete_apps else []
    if options.get("check"):
        status = pages.compare(directory, rendered, extension, owned_dirs, docset.whole_project)
        for title, names in (("missing", status.missing), ("stale", status.stale),
                             ("of a migration that no longer exists", status.orphaned)):
            for name in names:
                streams.out.write(f"{directory / name}: {title}\n")
        if status.up_to_date:
            streams.out.write(f"{len(status.current)} pages in {directory} are up to date.\n")
            return EXIT_OK
        streams.out.write(f"Run 'manage.py pilot docs --output {directory}' to bring them up to date.\n")
        return EXIT_FINDINGS
    status = pages.write(directory, rendered, extension, owned_dirs, docset.whole_project)
    streams.out.write(f"{len(rendered)} pages for {len(docset.docs)} migrations in {directory}"
                      f" ({docset.target.display}): {len(status.missing)} new, {len(status.stale)} updated,"
                      f" {len(status.orphaned)} removed.\n")
    return EXIT_OK


def _say_scratch(scratch: Any, alias: str | None, streams: Streams) -> None:
    """One line on what --shadow-database did (on stderr with --check, so stdout stays the page list)."""
    if scratch is None or not scratch.needed:
        return
    line = (f"SQL that reads names from the database: {scratch.filled} of {scratch.needed} operation(s) written"
            f" from a scratch database on {alias!r}")
    line += f"; the rest stay unavailable: {scratch.problem}.\n" if scratch.problem else ".\n"
    streams.err.write(line)


def _measured(alias: str | None, report: str | None) -> tuple[Any, str | None]:
    """Measured figures from the run history of `alias` and a rehearsal report; the sources in words."""
    from migration_pilot.docgen import measured

    found, sources = [], []
    if report:
        found.append(measured.from_report(Path(report)))
        sources.append(f"rehearsal report `{Path(report).name}`")
    if alias:
        from migration_pilot.pipeline.preflight import connect

        connect(alias)  # unreachable: one line naming the server, exit 2
        found.append(measured.from_history(alias))
        sources.insert(0, f"the run history of `{alias}`")
    if not found:
        return None, None
    return measured.merge(*found), " or ".join(sources)
