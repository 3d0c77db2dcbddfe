"""Migrations edited after they were applied (scenario D9).

Django keeps no checksum of what it applied, so a migration changed after
deploying makes environments differ silently: the new text never runs where
the old one already did. The deploy records the SHA-256 of each migration
file it applies, and its validate stage compares the files on disk with the
last recorded digest of every applied migration. A difference is a warning:
comments and formatting change the digest too, and only a person can tell.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from migration_pilot.loader import migration_path
from migration_pilot.types import MigrationKey


@dataclass(frozen=True, slots=True)
class EditedMigration:
    """An applied migration whose file differs from the one that was applied."""

    key: MigrationKey
    applied_at: datetime | None
    run_id: int
    recorded: str
    current: str

    def describe(self) -> str:
        """One line for the report."""
        when = f" on {self.applied_at:%Y-%m-%d %H:%M}" if self.applied_at else ""
        return (f"{self.key[0]}.{self.key[1]} changed since deploy #{self.run_id} applied it{when}"
                f" (sha256 {self.recorded[:12]} -> {self.current[:12]}): databases that already ran it keep"
                " the old version")


def file_digest(migration: Any) -> str:
    """SHA-256 of the file that defines `migration` ("" when it has none, e.g. built in a test)."""
    path = migration_path(migration)
    if path is None:
        return ""
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return ""


def edited_migrations(alias: str, loader: Any) -> list[EditedMigration]:
    """Applied migrations whose file on disk differs from the last digest a deploy recorded."""
    from migration_pilot.models import MigrationRun

    latest: dict[MigrationKey, tuple[str, Any, int]] = {}
    rows = (MigrationRun.objects.using(alias).filter(outcome="applied", backwards=False).exclude(file_sha256="")
            .order_by("id").values_list("app", "name", "file_sha256", "finished_at", "run_id"))
    for app, name, digest, finished, run_id in rows:
        latest[(app, name)] = (digest, finished, run_id)
    applied = set(loader.applied_migrations or {})
    found = []
    for key, (recorded, finished, run_id) in sorted(latest.items()):
        if key not in applied or key not in loader.graph.nodes:
            continue
        current = file_digest(loader.graph.nodes[key])
        if current and current != recorded:
            found.append(EditedMigration(key, finished, run_id, recorded, current))
    return found
