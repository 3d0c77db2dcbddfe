"""`<app>/migrations/max_migration.txt`: the app's latest migration, so parallel branches conflict in git.

Two branches that each add a migration to one app both change this one-line file,
so git reports a conflict at merge time instead of `migrate` at deploy time (the idea
of django-linear-migrations). The file names the app's one leaf in the migration
graph; it is stale when it names anything else, and unusable while the app has
several leaves.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from django.db.migrations.loader import MigrationLoader

from migration_pilot.graphfix import source
from migration_pilot.loader import migration_path

FILE_NAME = "max_migration.txt"


def max_file_path(migrations_dir: Path) -> Path:
    """Where an app's max_migration.txt lives, given its migrations directory."""
    return migrations_dir / FILE_NAME


@dataclass(frozen=True, slots=True)
class MaxFileStatus:
    """One app's file: where it is, what it says, what it should say, and what is wrong."""

    app: str
    path: Path
    current: str | None
    leaves: tuple[str, ...]
    problem: str = ""

    @property
    def expected(self) -> str | None:
        """The name the file should hold (None while the app has several leaves)."""
        return self.leaves[0] if len(self.leaves) == 1 else None


def migrations_dir(loader: MigrationLoader, app: str) -> Path | None:
    """The directory of an app's migration files (from any of its loaded migrations)."""
    for (label, _name), migration in loader.disk_migrations.items():
        if label == app:
            path = migration_path(migration)
            if path is not None:
                return Path(path).parent
    return None


def leaves(loader: MigrationLoader, app: str) -> tuple[str, ...]:
    """The app's leaf migrations, as `migrate` sees them (squashes replacing what they replace)."""
    return tuple(sorted(name for label, name in loader.graph.leaf_nodes(app) if label == app))


def status(loader: MigrationLoader, app: str) -> MaxFileStatus | None:
    """The app's max_migration.txt status, or None when the app has no migrations directory."""
    directory = migrations_dir(loader, app)
    if directory is None:
        return None
    path = max_file_path(directory)
    found = leaves(loader, app)
    current = path.read_text(encoding="utf-8") if path.exists() else None
    if len(found) > 1:
        problem = (f"{app} has {len(found)} leaf migrations ({', '.join(found)});"
                   f" run 'pilot fix-conflicts {app}' first.")
    elif current is None:
        problem = f"{path} is missing; run 'pilot max-migration write {app}'."
    elif len(current.strip().splitlines()) != 1:
        problem = (f"{path} has several lines (a git merge conflict?); run 'pilot fix-conflicts {app}',"
                   f" then 'pilot max-migration write {app}'.")
    elif current.strip() != found[0]:
        problem = (f"{path} names {current.strip()}, but the latest migration of {app} is {found[0]};"
                   f" run 'pilot max-migration write {app}' (or rebase {current.strip()} onto it).")
    else:
        problem = ""
    return MaxFileStatus(app, path, current, found, problem)


def write(state: MaxFileStatus) -> bool:
    """Write the file when it is missing or stale; True when it changed. Needs one leaf."""
    expected = state.expected
    if expected is None:
        return False
    wanted = f"{expected}\n"
    if state.current == wanted:
        return False
    source.atomic_write(state.path, wanted.encode("utf-8"))
    return True
