"""Backups you can trust at 3 a.m.: `pilot backup`, `pilot backups`, `pilot restore`.

Each backup is made by the vendor's own tool (pg_dump, the SQLite online
backup API, mariadb-dump/mysqldump), written privately and atomically, and
described by a manifest that records the applied migrations. The deploy
pipeline calls `create_backup` before applying and `restore_backup` when it
has to go back.
"""

from __future__ import annotations

from migration_pilot.backup.catalogue import default_directory, find_backup, list_backups, prune_backups
from migration_pilot.backup.manifest import Manifest
from migration_pilot.backup.progress import Progress, ProgressCallback
from migration_pilot.backup.service import (
    RestoreResult,
    TableComparison,
    VerifyReport,
    create_backup,
    restore_backup,
    verify_backup,
    writes_since_backup,
)

__all__ = [
    "Manifest",
    "Progress",
    "ProgressCallback",
    "RestoreResult",
    "TableComparison",
    "VerifyReport",
    "create_backup",
    "default_directory",
    "find_backup",
    "list_backups",
    "prune_backups",
    "restore_backup",
    "verify_backup",
    "writes_since_backup",
]
