"""`pilot restore ID`: put a backup back and say which migration state the database is now at.

Refuses a backup whose checksum does not match; refuses (exit 2) a restore
that would throw away writes made since the backup unless --discard-writes
(--yes does not imply it); asks for confirmation unless --yes (and refuses
with exit 2 when nobody can answer). On PostgreSQL, refuses (exit 2) before
touching the target a restore the connecting role lacks roles, memberships or
extension privileges for, or whose server cannot offer the extension
versions the manifest recorded, naming every one (--no-owner, --no-acl skip
the owner and grant checks, --any-extension-version the version check).
With -v 2, stderr names the path and version of every client tool used.
Exit 1 when the restore failed or the backup is corrupt.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from migration_pilot.cli.commands import EXIT_OK, Streams

NAME = "restore"
HELP = "Restore a backup into its database, another alias or a new database (--target); prints the migration state."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `pilot restore`."""
    parser.add_argument("backup_id", metavar="ID", help="Backup id, or a unique prefix of it (see 'pilot backups').")
    parser.add_argument("--database", default="default", help="Alias whose database (and server) to restore into.")
    parser.add_argument("--target", help="Restore into this other alias, or into a new database of this name"
                                         " (a new file path for SQLite) instead.")
    parser.add_argument("--dir", dest="backup_dir", help="Backup directory (default: MIGRATION_PILOT backup_dir).")
    parser.add_argument("--jobs", type=int, default=1,
                        help="PostgreSQL: parallel restore jobs (not one transaction when more than 1).")
    parser.add_argument("--no-owner", action="store_true",
                        help="PostgreSQL: do not restore ownership and grants (restore as a non-superuser).")
    parser.add_argument("--no-acl", action="store_true",
                        help="PostgreSQL: restore ownership but not grants (GRANT, REVOKE, default privileges).")
    parser.add_argument("--any-extension-version", action="store_true",
                        help="PostgreSQL: restore even when the server cannot offer the extension versions the"
                             " backup recorded (the restore gets the server's default versions).")
    parser.add_argument("--lock-wait", default="60s",
                        help="PostgreSQL: fail when a table lock is not granted within this time.")
    parser.add_argument("--storage", help="Fetch the backup from this settings.STORAGES backend first.")
    parser.add_argument("--yes", action="store_true", help="Do not ask for confirmation.")
    parser.add_argument("--discard-writes", action="store_true",
                        help="Restore even though the database was written since the backup (or it cannot be told):"
                             " those writes are lost.")
    parser.add_argument("--format", choices=["text", "json"], default="text", dest="output_format")


def run(options: dict[str, Any], streams: Streams) -> int:
    """Find, confirm, restore, report."""
    from migration_pilot.backup import find_backup, restore_backup, writes_since_backup
    from migration_pilot.backup.catalogue import list_backups, resolve_directory
    from migration_pilot.backup.errors import BadOptionError, ConfirmationRequiredError, DiscardWritesRequiredError
    from migration_pilot.cli.subcommands.backup import ProgressDisplay, stdin_is_tty, tool_lines, verbose
    from migration_pilot.pipeline.durations import parse_duration

    if options["jobs"] < 1:
        raise BadOptionError("--jobs", f"{options['jobs']}; give 1 or more")
    directory = resolve_directory(options.get("backup_dir"))
    if options.get("storage") and not any(m.id == options["backup_id"] for m in list_backups(directory)):
        from migration_pilot.backup.storage import download

        download(options["backup_id"], options["storage"], directory)
    manifest = find_backup(options["backup_id"], directory)
    alias = options.get("database") or "default"
    where = f"new database {options['target']!r}" if options.get("target") else f"alias {alias!r}"
    action = (f"restore backup {manifest.id} ({manifest.created_at:%Y-%m-%d %H:%M:%S} UTC"
              f"{', ' + manifest.label if manifest.label else ''}) into {where}, replacing its data")
    discard = bool(options.get("discard_writes"))
    lost = writes_since_backup(manifest, alias=alias, target_database=options.get("target"))
    if lost is not None and lost.changed is not False:
        if not discard:
            raise DiscardWritesRequiredError(manifest.id, where, lost.summary, known=lost.changed is True)
        action += f" and discarding what was written since ({lost.summary})"
    if not options.get("yes"):
        if not stdin_is_tty():
            raise ConfirmationRequiredError(action)
        streams.err.write(f"About to {action}. Type 'yes' to go on: ")
        streams.err.flush()
        if input().strip().lower() != "yes":
            streams.err.write("Nothing was changed.\n")
            return 2
    with ProgressDisplay(streams) as progress:
        result = restore_backup(manifest, alias=alias, target_database=options.get("target"), jobs=options["jobs"],
                                progress=progress, no_owner=bool(options.get("no_owner")),
                                no_acl=bool(options.get("no_acl")),
                                lock_wait=parse_duration(options["lock_wait"], source="--lock-wait") or None,
                                discard_writes=discard,
                                any_extension_version=bool(options.get("any_extension_version")))
    if verbose(options):
        err = getattr(streams.err, "_out", streams.err)
        err.write(tool_lines(result.tools))
    discarded = result.discarded
    state = result.state
    recorded = None if options.get("target") else _record(result.alias, result.backup_id)
    if options.get("output_format") == "json":
        streams.out.write(json.dumps({
            "backup_id": result.backup_id, "alias": result.alias, "database": result.database,
            "created_database": result.created_database, "duration_s": result.duration_s,
            "dropped": result.dropped, "applied": [list(k) for k in state.applied], "tools": result.tools,
            "writes_since_backup": discarded.to_dict() if discarded else None,
            "pending": [list(k) for k in state.pending], "unknown": [list(k) for k in state.unknown],
            "history_run": recorded[0] if recorded else None, "superseded_runs": recorded[1] if recorded else [],
        }, indent=2) + "\n")
        return EXIT_OK
    out = streams.out
    out.write(f"Restored backup {result.backup_id} into {result.alias} (database {result.database})"
              f" in {result.duration_s:.1f}s.\n")
    if discarded is not None and discarded.changed is not False:
        out.write(f"Discarded what was written since the backup (--discard-writes): {discarded.summary}.\n")
    if recorded is not None:
        closed = recorded[1]
        out.write(f"Recorded as restore #{recorded[0]} in the history"
                  + (f"; closed run(s) {', '.join(f'#{i}' for i in closed)}, which were running when the backup"
                     " was taken, as superseded (never resumed)" if closed else "") + ".\n")
    if result.dropped:
        out.write(f"Dropped {len(result.dropped)} relation(s) the backup does not have: {', '.join(result.dropped)}.\n")
    out.write("Migration state now:\n")
    latest = state.latest_by_app()
    pending_by_app: dict[str, int] = {}
    for app, _ in state.pending:
        pending_by_app[app] = pending_by_app.get(app, 0) + 1
    for app in sorted(set(latest) | set(pending_by_app)):
        count = pending_by_app.get(app, 0)
        out.write(f"   {app}: {latest.get(app, '(none applied)')}"
                  + (f" ({count} pending)" if count else "") + "\n")
    if state.pending:
        out.write(f"{len(state.pending)} migration(s) in the code are not applied: run 'pilot deploy' to apply them.\n")
    if state.unknown:
        shown = ", ".join(f"{a}.{n}" for a, n in state.unknown[:10])
        out.write(f"Applied but not in the code: {shown}. The backup is from a newer release of the code.\n")
    return EXIT_OK


def _record(alias: str, backup_id: str) -> tuple[int, list[int]] | None:
    """The restore as a run in the restored history: (its id, runs it closed), or None without history tables."""
    from migration_pilot.pipeline.history import record_restore

    found = record_restore(alias, backup_id)
    return None if found is None else (found[0].id, found[1])
