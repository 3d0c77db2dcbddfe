"""Errors the migration-test helpers raise on purpose: one line each, naming the fix."""

from __future__ import annotations

from collections.abc import Sequence

from migration_pilot.exceptions import PilotError


class MigrationTargetError(PilotError, LookupError):
    """A migration target names an unknown app or migration, or is not a (app, migration) pair."""

    def __init__(self, target: object, problem: str, *, hint: str) -> None:
        self.target = target
        self.problem = problem
        self.hint = hint

    def __str__(self) -> str:
        return f"Migration target {self.target!r}: {self.problem}. {self.hint}"


class MigrationOrderError(PilotError, ValueError):
    """apply_tested_migration was called before apply_initial_migration, or a plan mixes directions."""

    def __init__(self, problem: str, *, hint: str) -> None:
        self.problem = problem
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.problem} {self.hint}"


class SnapshotError(PilotError, RuntimeError):
    """A database snapshot could not be taken or restored (permissions, a non-test database)."""

    def __init__(self, database: str, reason: str, *, hint: str) -> None:
        self.database = database
        self.reason = reason
        self.hint = hint

    def __str__(self) -> str:
        return f"Cannot snapshot test database {self.database!r}: {self.reason}. {self.hint}"


def known_names(names: Sequence[str], limit: int = 8) -> str:
    """A short, readable list of the names a user could have meant."""
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")
