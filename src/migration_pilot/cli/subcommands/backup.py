"""`pilot backup`: a consistent backup of one database alias, with its applied migrations.

Prints the new backup's id on stdout (the manifest with --format json), so
scripts can write `ID=$(manage.py pilot backup)`; with -v 2, stderr names
the path and version of every client tool used. Exit 0 on success, 1 when
the backup or its --verify failed, 2 for bad input or missing tools.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

from migration_pilot.cli.commands import EXIT_FINDINGS, EXIT_OK, Streams

NAME = "backup"
HELP = ("Back up a database with its own tools (pg_dump, mariadb-dump, SQLite backup API) and record"
        " the applied migrations; prints the backup id.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `pilot backup`."""
    parser.epilog = ("A backup holds every row of the database, password hashes and secrets included: it is"
                     " written 0600 in a 0700 directory from the first byte, and is not encrypted, so keep the"
                     " directory on an encrypted volume and use a storage backend that encrypts at rest.")
    parser.add_argument("--database", default="default", help="Database alias to back up.")
    parser.add_argument("--dir", dest="backup_dir", help="Backup directory (default: MIGRATION_PILOT backup_dir).")
    parser.add_argument("--label", help="A note stored in the manifest, e.g. before-deploy.")
    parser.add_argument("--jobs", type=int, default=1,
                        help="PostgreSQL: parallel dump jobs (directory format when more than 1).")
    parser.add_argument("--lock-wait", default="60s",
                        help="PostgreSQL: give up when a table lock is not granted within this time.")
    parser.add_argument("--verify", action="store_true",
                        help="Restore into a scratch database and compare every table with the live one.")
    parser.add_argument("--storage", help="Also copy the backup to this settings.STORAGES backend.")
    parser.add_argument("--format", choices=["text", "json"], default="text", dest="output_format")


def run(options: dict[str, Any], streams: Streams) -> int:
    """Take the backup, optionally verify it, print the id or the manifest."""
    from migration_pilot.backup import create_backup, verify_backup
    from migration_pilot.backup.errors import BadOptionError
    from migration_pilot.pipeline.durations import parse_duration

    if options["jobs"] < 1:
        raise BadOptionError("--jobs", f"{options['jobs']}; give 1 or more")
    alias = options.get("database") or "default"
    with ProgressDisplay(streams) as progress:
        manifest = create_backup(alias, directory=options.get("backup_dir"), label=options.get("label"),
                                 jobs=options["jobs"], progress=progress,
                                 lock_wait=parse_duration(options["lock_wait"], source="--lock-wait") or None)
    payload: dict[str, Any] = manifest.to_dict()
    payload["path"] = str(manifest.path)
    err: TextIO = getattr(streams.err, "_out", streams.err)  # plain text: Django would colour stderr red
    err.write(f"Backed up {alias} ({manifest.vendor} {manifest.database}) to {manifest.path}:"
              f" {human_size(manifest.size)}, SHA-256 {manifest.sha256[:16]}..., {manifest.duration_s:.1f}s;"
              f" {len(manifest.applied_migrations)} migrations applied.\n")
    if verbose(options):
        err.write(tool_lines(manifest.tool_paths))
    code = EXIT_OK
    if options.get("storage"):
        from migration_pilot.backup.storage import upload

        payload["storage"] = upload(manifest, options["storage"])
        err.write(f"Copied to storage {options['storage']!r}: {', '.join(payload['storage'])}.\n")
    if options.get("verify"):
        with ProgressDisplay(streams) as progress:
            report = verify_backup(manifest, alias, progress=progress)
        payload["verify"] = verify_payload(report)
        err.write(verify_text(report))
        code = EXIT_OK if report.ok else EXIT_FINDINGS
    if options.get("output_format") == "json":
        streams.out.write(json.dumps(payload, indent=2, sort_keys=True) + "\n")
    else:
        streams.out.write(manifest.id + "\n")
    return code


def verbose(options: dict[str, Any]) -> bool:
    """`-v 2` or more."""
    return int(options.get("verbosity", 1)) >= 2


def tool_lines(paths: dict[str, str]) -> str:
    """One line per client tool used: its resolved path, its version, where it was found (S13)."""
    from pathlib import Path

    from migration_pilot.backup.tools import describe

    return "".join(f"Tool {describe(name, Path(path))}.\n" for name, path in paths.items())


def verify_payload(report: Any) -> dict[str, Any]:
    """A VerifyReport as JSON values."""
    return {
        "ok": report.ok, "error": report.error, "scratch": report.scratch, "duration_s": report.duration_s,
        "tables": [{"table": t.table, "matches": t.matches,
                    "live_rows": t.live.rows if t.live else None,
                    "restored_rows": t.restored.rows if t.restored else None} for t in report.tables],
    }


def verify_text(report: Any) -> str:
    """One line when verified, one per differing table otherwise."""
    if report.error:
        return f"Verification FAILED: the backup did not restore into a scratch database: {report.error}\n"
    if report.ok:
        from migration_pilot.backup.state import LARGE_OBJECTS

        tables = [t for t in report.tables if t.table != LARGE_OBJECTS]
        rows = sum(t.live.rows for t in tables if t.live)
        blobs = sum(t.live.rows for t in report.tables if t.table == LARGE_OBJECTS and t.live)
        return (f"Verified: restored into scratch database {report.scratch}; {len(tables)} tables,"
                f" {rows:,} rows{f' and {blobs:,} large objects' if blobs else ''} match the live database"
                f" ({report.duration_s:.1f}s).\n")
    lines = [f"Verification FAILED: {len(report.differences)} table(s) differ from the live database:"]
    for table in report.differences:
        live = f"{table.live.rows} rows" if table.live else "missing"
        restored = f"{table.restored.rows} rows" if table.restored else "missing"
        same_count = table.live and table.restored and table.live.rows == table.restored.rows
        lines.append(f"   {table.table}: live {live}, backup {restored}"
                     + (" (same count, different content)" if same_count else ""))
    lines.append("   (Writes made after the backup also show here; verify right after backing up.)")
    return "\n".join(lines) + "\n"


def human_size(size: int) -> str:
    """'1.2 MB' style sizes."""
    value = float(size)
    for unit in ("bytes", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{int(value)} bytes" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{size} bytes"  # pragma: no cover


class ProgressDisplay:
    """A progress callback: a rich bar (bytes, elapsed) on a terminal, a plain line every 10 s otherwise."""

    def __init__(self, streams: Streams) -> None:
        self.stream: TextIO = getattr(streams.err, "_out", streams.err)
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.bar: Any = None
        self.tasks: dict[str, Any] = {}
        self.last_line = time.monotonic()

    def __enter__(self) -> Callable[[Any], None]:
        if self.tty:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                DownloadColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TransferSpeedColumn,
            )

            self.bar = Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                                TransferSpeedColumn(), TimeElapsedColumn(),
                                console=Console(file=self.stream), transient=True)
            self.bar.start()
        return self.update

    def update(self, event: Any) -> None:
        """Draw one Progress event."""
        if self.bar is not None:
            task = self.tasks.get(event.phase)
            if task is None:
                task = self.tasks[event.phase] = self.bar.add_task(event.phase, total=event.total_bytes)
            self.bar.update(task, completed=event.done_bytes, total=event.total_bytes)
            return
        now = time.monotonic()
        if event.finished or now - self.last_line < 10:
            return
        self.last_line = now
        total = f" of {human_size(event.total_bytes)}" if event.total_bytes else ""
        self.stream.write(f"{event.phase}: {human_size(event.done_bytes)}{total}, {event.elapsed_s:.0f}s\n")
        self.stream.flush()

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()


def stdin_is_tty() -> bool:
    """Whether a person can answer a confirmation prompt."""
    return bool(getattr(sys.stdin, "isatty", lambda: False)())
