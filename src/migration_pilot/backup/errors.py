"""Errors of `pilot backup`, `pilot backups` and `pilot restore`.

Exit codes follow the CLI contract: 2 for input the user must change (an
unknown id, a missing tool, no consent), 1 when a backup, verification or
restore ran and failed. Messages never contain credentials: they are built
from database names, paths and tool output that has been scrubbed.
"""

from __future__ import annotations

from collections.abc import Iterable

from migration_pilot.exceptions import PilotError


class _ProblemWithHint(PilotError):
    """What went wrong, then what to do about it, as one line."""

    def __init__(self, problem: str, *, hint: str = "") -> None:
        self.problem = problem
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.problem} {self.hint}".strip()


class BackupError(_ProblemWithHint, RuntimeError):
    """A backup could not be taken; nothing was left under a final name."""

    exit_code = 1


class RestoreError(BackupError):
    """A restore was refused or failed."""


class VerificationError(BackupError):
    """A backup did not restore into a scratch database, or restored different data."""


class CorruptBackupError(BackupError):
    """The backup file does not match its manifest (checksum, size or format)."""


class BackupDirectoryError(PilotError, OSError):
    """The backup directory cannot be created, read or is not private."""

    exit_code = 2

    def __init__(self, directory: str, problem: str, *, hint: str) -> None:
        self.directory = directory
        self.problem = problem
        self.hint = hint

    def __str__(self) -> str:
        return f"Backup directory {self.directory}: {self.problem}. {self.hint}"


class UnknownBackupError(PilotError, LookupError):
    """No backup in the catalogue has this id (or the prefix is ambiguous or malformed)."""

    exit_code = 2

    def __init__(self, value: str, *, directory: str, problem: str = "no backup has that id",
                 candidates: Iterable[str] = ()) -> None:
        self.value = value
        self.directory = directory
        self.problem = problem
        self.candidates = sorted(candidates)

    def __str__(self) -> str:
        shown = f" Matching: {', '.join(self.candidates[:5])}." if self.candidates else ""
        return (f"Unknown backup {self.value!r} in {self.directory}: {self.problem}.{shown}"
                " Run 'pilot backups' to list backup ids.")


class ClientToolError(_ProblemWithHint, FileNotFoundError):
    """A database client tool (pg_dump, mariadb-dump, ...) is missing or too old."""

    exit_code = 2


class UnsupportedDatabaseError(PilotError, ValueError):
    """The alias uses a database backend this tool cannot back up."""

    exit_code = 2

    def __init__(self, alias: str, vendor: str) -> None:
        self.alias = alias
        self.vendor = vendor

    def __str__(self) -> str:
        return (f"Database alias {self.alias!r} uses the {self.vendor!r} backend; backups support"
                " PostgreSQL, MySQL/MariaDB and SQLite. Back it up with the database's own tools.")


class RestoreTargetError(_ProblemWithHint, ValueError):
    """--target names something that cannot receive this backup."""

    exit_code = 2


class RestorePreflightError(PilotError, PermissionError):
    """The restoring role lacks roles, memberships or extension privileges the archive needs (G1)."""

    exit_code = 2

    def __init__(self, backup_id: str, database: str, problems: list[tuple[str, str]]) -> None:
        self.backup_id = backup_id
        self.database = database
        self.problems = problems

    def __str__(self) -> str:
        numbered = len(self.problems) > 1
        said = "; ".join(f"({i}) {p}" if numbered else p for i, (p, _) in enumerate(self.problems, 1))
        fixes = "; ".join(f"({i}) {f}" if numbered else f for i, (_, f) in enumerate(self.problems, 1))
        return (f"Refusing to restore backup {self.backup_id} into database {self.database!r}:"
                f" {said}. Fix: {fixes}. Nothing was changed.")


class ConfirmationRequiredError(PilotError, PermissionError):
    """A destructive restore or prune needs consent: --yes, or an answer on a terminal."""

    exit_code = 2

    def __init__(self, action: str) -> None:
        self.action = action

    def __str__(self) -> str:
        return (f"Refusing to {self.action} without confirmation: stdin is not a terminal."
                " Pass --yes to confirm.")


class DiscardWritesRequiredError(PilotError, PermissionError):
    """A restore would throw away writes made since the backup (or cannot tell): --discard-writes is needed."""

    exit_code = 2

    def __init__(self, backup_id: str, where: str, summary: str, *, known: bool) -> None:
        self.backup_id = backup_id
        self.where = where
        self.summary = summary
        self.known = known

    def __str__(self) -> str:
        what = "they would be lost" if self.known else "whatever was written would be lost"
        return (f"Refusing to restore backup {self.backup_id} into {self.where}: {self.summary}; {what}."
                " Take a new backup first, or pass --discard-writes to restore anyway.")


class BadOptionError(PilotError, ValueError):
    """A flag value of the backup commands is malformed."""

    exit_code = 2

    def __init__(self, option: str, problem: str) -> None:
        self.option = option
        self.problem = problem

    def __str__(self) -> str:
        return f"Bad {self.option}: {self.problem}."
