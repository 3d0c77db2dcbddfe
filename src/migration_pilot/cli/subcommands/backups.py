"""`pilot backups`: list the backup catalogue, and prune it by count and age."""

from __future__ import annotations

import argparse
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from migration_pilot.cli.commands import EXIT_OK, Streams

NAME = "backups"
HELP = ("List backups (newest first) with when each may be pruned; --verify ID proves one restores; --prune"
        " deletes those no retention rule keeps (--keep N, --older-than 24h; default backup_retention_hours).")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `pilot backups`."""
    parser.add_argument("--dir", dest="backup_dir", help="Backup directory (default: MIGRATION_PILOT backup_dir).")
    parser.add_argument("--database", help="Only backups of this alias.")
    parser.add_argument("--prune", action="store_true",
                        help="Delete backups that are neither among the --keep newest per alias nor younger"
                             " than --older-than (default: the backup_retention_hours setting, 24h unless set,"
                             " the runbook's pre-deploy retention).")
    parser.add_argument("--keep", type=int, help="With --prune: keep this many newest backups per alias.")
    parser.add_argument("--older-than", help="With --prune: delete backups older than this (e.g. 24h, 7d).")
    parser.add_argument("--yes", action="store_true", help="With --prune: delete without asking (needed when"
                        " stdin is not a terminal).")
    parser.add_argument("--dry-run", action="store_true", help="With --prune: only list what would be deleted.")
    parser.add_argument("--verify", metavar="ID",
                        help="Restore backup ID into a scratch database and compare it with the live database"
                             " (exit 1 when it does not restore or differs).")
    parser.add_argument("--format", choices=["text", "json"], default="text", dest="output_format")


def parse_age(value: str) -> timedelta:
    """'7d', '24h', '30min', '90s' as a timedelta."""
    from migration_pilot.backup.errors import BadOptionError
    from migration_pilot.pipeline.durations import parse_duration

    match = re.match(r"^\s*(\d+(?:\.\d+)?)\s*d\s*$", value)
    if match:
        return timedelta(days=float(match[1]))
    try:
        return timedelta(seconds=parse_duration(value, source="--older-than"))
    except Exception:
        raise BadOptionError("--older-than", f"{value!r}; write e.g. 7d, 24h or 30min") from None


def run(options: dict[str, Any], streams: Streams) -> int:
    """List, or prune then list what was deleted."""
    from migration_pilot.backup import list_backups, prune_backups
    from migration_pilot.backup.catalogue import default_retention, resolve_directory
    from migration_pilot.backup.errors import BadOptionError
    from migration_pilot.cli.subcommands.backup import human_size

    directory = resolve_directory(options.get("backup_dir"))
    if options.get("verify"):
        return _verify(options, streams)
    if options.get("prune"):
        keep = options.get("keep")
        if keep is not None and keep < 0:
            raise BadOptionError("--keep", f"{keep}; give 0 or more")
        older = parse_age(options["older_than"]) if options.get("older_than") else None
        if keep is None and older is None:
            older = default_retention()
        doomed = prune_backups(directory, keep, older, dry_run=True)
        if options.get("dry_run"):
            streams.out.write(f"Would delete {len(doomed)} backup(s) from {directory}"
                              + (": " + ", ".join(m.id for m in doomed) if doomed else "") + ".\n")
            return EXIT_OK
        if doomed and not options.get("yes"):
            from migration_pilot.backup.errors import ConfirmationRequiredError
            from migration_pilot.cli.subcommands.backup import stdin_is_tty

            names = ", ".join(m.id for m in doomed[:5]) + (", ..." if len(doomed) > 5 else "")
            action = f"delete {len(doomed)} backup(s) ({names})"
            if not stdin_is_tty():
                raise ConfirmationRequiredError(action)
            streams.err.write(f"About to {action}. Type 'yes' to go on: ")
            streams.err.flush()
            try:
                answer = input().strip().lower()
            except EOFError:
                answer = ""
            if answer != "yes":
                streams.err.write("Nothing was deleted.\n")
                return 2
        deleted = prune_backups(directory, keep, older)
        if options.get("output_format") == "json":
            streams.out.write(json.dumps({"deleted": [m.to_dict() for m in deleted]}, indent=2) + "\n")
        else:
            streams.out.write(f"Deleted {len(deleted)} backup(s) from {directory}"
                              + (": " + ", ".join(m.id for m in deleted) if deleted else "") + ".\n")
        return EXIT_OK
    if options.get("keep") is not None or options.get("older_than"):
        raise BadOptionError("--keep/--older-than", "they only apply with --prune")
    backups = [m for m in list_backups(directory) if not options.get("database") or m.alias == options["database"]]
    retention = default_retention()
    now = datetime.now(UTC)
    if options.get("output_format") == "json":
        streams.out.write(json.dumps([{**m.to_dict(), "path": str(m.path),
                                       "prunable_at": (m.created_at + retention).isoformat()}
                                      for m in backups], indent=2) + "\n")
        return EXIT_OK
    if not backups:
        streams.out.write(f"No backups in {directory}.\n")
        return EXIT_OK
    rows = [("ID", "CREATED (UTC)", "ALIAS", "VENDOR", "SIZE", "MIGRATIONS", "PRUNABLE FROM", "LABEL")]
    rows += [(m.id, f"{m.created_at:%Y-%m-%d %H:%M:%S}", m.alias, m.vendor, human_size(m.size),
              str(sum(1 for app, _name in m.applied_migrations if app != "migration_pilot")),
              _prunable(m.created_at + retention, now), m.label or "") for m in backups]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        streams.out.write("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
                          + "\n")
    return EXIT_OK


def _prunable(moment: datetime, now: datetime) -> str:
    """When --prune (at the configured retention) may delete a backup: 'now' once that time has passed."""
    return "now" if moment <= now else f"{moment:%Y-%m-%d %H:%M:%S}"


def _verify(options: dict[str, Any], streams: Streams) -> int:
    from migration_pilot.backup import find_backup, verify_backup
    from migration_pilot.cli.commands import EXIT_FINDINGS
    from migration_pilot.cli.subcommands.backup import ProgressDisplay, verify_payload, verify_text

    manifest = find_backup(options["verify"], options.get("backup_dir"))
    with ProgressDisplay(streams) as progress:
        report = verify_backup(manifest, options.get("database") or manifest.alias, progress=progress)
    if options.get("output_format") == "json":
        streams.out.write(json.dumps({"backup_id": manifest.id, **verify_payload(report)}, indent=2) + "\n")
    else:
        streams.out.write(verify_text(report))
    return EXIT_OK if report.ok else EXIT_FINDINGS
