"""SQLite: the online backup API, never a file copy (F3).

`sqlite3.Connection.backup` copies pages in steps and restarts when another
connection writes, so the copy is one consistent state even while the
application is writing. The same API restores: it replaces the target
database's content in one go, tables created after the backup included.
Every connection is closed with contextlib.closing (sqlite3's own context
manager only commits).
"""

from __future__ import annotations

import os
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Final

from migration_pilot.backup.errors import BackupError, CorruptBackupError, RestoreError
from migration_pilot.backup.progress import Meter

MAGIC: Final = b"SQLite format 3\x00"
PAGES_PER_STEP: Final = 1024


def _uri(path: Path, mode: str) -> str:
    return Path(os.path.abspath(path)).as_uri().replace("file://", "file:", 1) + f"?mode={mode}"


def dump(source: Path, dest: Path, *, meter: Meter) -> tuple[str, str]:
    """Copy the live database at `source` into the (already created, empty, 0600) file `dest`."""
    if not source.is_file():
        raise BackupError(f"SQLite database {source} does not exist.",
                          hint="Check DATABASES NAME, or run 'manage.py migrate' first.")

    def step(status: int, remaining: int, total: int) -> None:
        meter.total = total * page_size
        meter.update((total - remaining) * page_size)

    try:
        with closing(sqlite3.connect(_uri(source, "ro"), uri=True)) as src, \
                closing(sqlite3.connect(dest)) as dst:
            page_size = int(src.execute("PRAGMA page_size").fetchone()[0])
            src.backup(dst, pages=PAGES_PER_STEP, progress=step)
            dst.execute("PRAGMA journal_mode=DELETE")
            result = dst.execute("PRAGMA integrity_check").fetchone()[0]
    except sqlite3.Error as exc:
        raise BackupError(f"SQLite backup of {source} failed: {exc}.",
                          hint="Check free disk space and file size limits in the backup directory;"
                               " nothing was kept.") from None
    if result != "ok":
        raise BackupError(f"The copy of {source} fails PRAGMA integrity_check ({result}).",
                          hint="The live database may be damaged; run 'PRAGMA integrity_check' on it.")
    return "sqlite", "none"


def check_archive(path: Path) -> None:
    """Refuse a file that is not a sound SQLite database (G5)."""
    with open(path, "rb") as handle:
        if handle.read(16) != MAGIC:
            raise CorruptBackupError(f"{path.name} is not a SQLite database.", hint="Refusing to restore it.")
    try:
        with closing(sqlite3.connect(_uri(path, "ro"), uri=True)) as conn:
            result = conn.execute("PRAGMA integrity_check").fetchone()[0]
    except sqlite3.Error as exc:
        raise CorruptBackupError(f"{path.name} cannot be read as SQLite: {exc}.", hint="Refusing to restore it.") \
            from None
    if result != "ok":
        raise CorruptBackupError(f"{path.name} fails PRAGMA integrity_check ({result}).",
                                 hint="Refusing to restore it.")


def restore(path: Path, target: Path, *, meter: Meter) -> None:
    """Replace the content of the database file `target` with the backup at `path`."""
    def step(status: int, remaining: int, total: int) -> None:
        meter.total = total * page_size
        meter.update((total - remaining) * page_size)

    try:
        with closing(sqlite3.connect(_uri(path, "ro"), uri=True)) as src, \
                closing(sqlite3.connect(target, timeout=30)) as dst:
            page_size = int(src.execute("PRAGMA page_size").fetchone()[0])
            src.backup(dst, pages=PAGES_PER_STEP, progress=step)
    except sqlite3.Error as exc:
        raise RestoreError(f"SQLite restore into {target} failed: {exc}.",
                           hint="Close other programs that hold the database open and retry.") from None
