"""`pilot lint`: the review gate for every migration."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from migration_pilot.cli.commands import EXIT_FINDINGS, EXIT_OK, Streams, split_list
from migration_pilot.conf import FAIL_NEVER, Config, load_config, parse_fail_on, parse_pg_version
from migration_pilot.exceptions import MessageError

NAME = "lint"
HELP = "Find migrations that lock busy tables, break running code or cannot be undone."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `pilot lint`."""
    parser.add_argument("app_labels", nargs="*", metavar="app_label",
                        help="Apps to lint (default: every app inside the project). With --static:"
                             " directories to search for */migrations/*.py (default: the current"
                             " directory).")
    parser.add_argument("--static", action="store_true",
                        help="Read the migration files' syntax only: no migration module is imported,"
                             " so no code from them runs; without --settings no settings or models are"
                             " imported either. Safe on untrusted pull requests.")
    parser.add_argument("--import", action="store_true", dest="import_mode",
                        help="Import the migration modules through Django's loader (the default):"
                             " this runs their top-level code. Never on untrusted code in a job that"
                             " holds secrets.")
    parser.add_argument("--auth-user-model", metavar="APP.MODEL",
                        help="With --static: what settings.AUTH_USER_MODEL names in the files"
                             " (default: auth.User, or the setting when --settings is given).")
    parser.add_argument("--database", default="default",
                        help="Alias whose ENGINE decides the target database (no connection).")
    parser.add_argument("--vendor", choices=["postgresql", "mysql", "sqlite"],
                        help="Judge for this database instead of the alias's ENGINE.")
    parser.add_argument("--pg-version", help="PostgreSQL major version for version-gated rules.")
    parser.add_argument("--format", choices=["text", "json", "sarif", "github", "codeclimate"], default="text",
                        dest="output_format")
    parser.add_argument("--fail-on", help="error (default), warning, info or never.")
    parser.add_argument("--select", help="Comma-separated rule ids to run (default: all).")
    parser.add_argument("--ignore", help="Comma-separated rule ids to skip.")
    parser.add_argument("--all-apps", action="store_true",
                        help="Also lint third-party apps installed outside the project.")
    parser.add_argument("--since", metavar="GIT_REF",
                        help="Only migrations added or changed since this git ref.")


def run(options: dict[str, Any], streams: Streams) -> int:
    """`pilot lint`: returns 0 clean, 1 findings at --fail-on, 2 usage errors (raised)."""
    from migration_pilot.cli.output import render
    from migration_pilot.cli.since import changed_paths
    from migration_pilot.lint import lint
    from migration_pilot.lint.registry import resolve_rule_ids  # here: lint's import costs 0.15 s at start-up

    if options.get("static") and options.get("import_mode"):
        raise MessageError("--static and --import cannot be used together: --static never imports"
                           " the migration modules, --import does. Pass one of them.")
    config = load_config()
    changes: dict[str, Any] = {}
    if options.get("select"):
        changes["select"] = resolve_rule_ids(split_list(options["select"]), source="--select")
    if options.get("ignore"):
        changes["ignore"] = config.ignore | resolve_rule_ids(
            split_list(options["ignore"]), source="--ignore")
    if options.get("fail_on"):
        changes["fail_on"] = parse_fail_on(options["fail_on"], source="--fail-on")
    if options.get("pg_version"):
        changes["pg_version"] = parse_pg_version(options["pg_version"], source="--pg-version")
    config = config.with_overrides(**changes)
    paths = None
    if options.get("since"):
        paths = changed_paths(options["since"], config.project_root or Path.cwd())
    if options.get("static"):
        result = _lint_static(options, config, paths)
        streams.err.write("note: static mode: missing-migration was not run (it needs the"
                          " project's models; run with --import to check it).\n")
    else:
        if options.get("auth_user_model"):
            raise MessageError("--auth-user-model only applies with --static; import mode reads"
                               " settings.AUTH_USER_MODEL.")
        result = lint(
            options.get("app_labels") or (),
            config=config,
            database=options.get("database") or "default",
            vendor=options.get("vendor"),
            all_apps=bool(options.get("all_apps")),
            paths=paths,
        )
    streams.out.write(render(result, options.get("output_format") or "text",
                             colour=streams.colour))
    worst = result.worst()
    if worst is not None and config.fail_on != FAIL_NEVER and worst >= config.fail_on:
        return EXIT_FINDINGS
    return EXIT_OK




def _lint_static(options: dict[str, Any], config: Config, changed: Any) -> Any:
    """--static: positional arguments are directories; the vendor is --vendor, the settings' or PostgreSQL."""
    from django.conf import settings

    from migration_pilot.lint import vendor_of_alias
    from migration_pilot.lint.static.run import lint_static

    vendor = options.get("vendor")
    database = options.get("database") or "default"
    if vendor is None:
        vendor = vendor_of_alias(database) if database in settings.DATABASES else "postgresql"
    paths = [Path(p) for p in options.get("app_labels") or ()] or [Path.cwd()]
    return lint_static(paths, config=config, vendor=vendor,
                       auth_user_model=options.get("auth_user_model"), changed=changed)
