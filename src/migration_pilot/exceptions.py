"""Every exception migration_pilot raises on purpose.

Each one is a condition the user can fix; `str()` is a full sentence with the
remedy, so the command line can print it as a one-line error.
"""

from __future__ import annotations

from collections.abc import Iterable


class PilotError(Exception):
    """Base class: a problem the user can fix, shown without a traceback."""

    exit_code: int = 2


class MessageError(PilotError):
    """A PilotError whose whole message is composed where it is raised (the graph repairs' refusals)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ConfigError(PilotError, ValueError):
    """The configuration (settings, pyproject.toml or a flag) is malformed."""

    def __init__(self, problem: str, *, source: str) -> None:
        self.problem = problem
        self.source = source

    def __str__(self) -> str:
        return f"{self.problem} (in {self.source})."


class UnknownRuleError(PilotError, LookupError):
    """A rule id in config, a flag or a suppression matches no rule."""

    def __init__(self, value: str, *, source: str) -> None:
        self.value = value
        self.source = source

    def __str__(self) -> str:
        return (
            f"Unknown rule {self.value!r} in {self.source}."
            " Run 'manage.py pilot rules' to list rule ids."
        )


class UnknownAppError(PilotError, LookupError):
    """An app label given on the command line is not installed or has no migrations."""

    def __init__(self, label: str, *, known: Iterable[str]) -> None:
        self.label = label
        self.known = sorted(known)

    def __str__(self) -> str:
        shown = ", ".join(self.known[:12]) + (", ..." if len(self.known) > 12 else "")
        return (
            f"Unknown app label {self.label!r}: no installed app with migrations has that label."
            f" Apps with migrations: {shown}."
        )


class UnknownDatabaseError(PilotError, LookupError):
    """A --database alias is not in settings.DATABASES."""

    def __init__(self, alias: str, *, known: Iterable[str], flag: str = "--database") -> None:
        self.alias = alias
        self.known = sorted(known)
        self.flag = flag

    def __str__(self) -> str:
        return (
            f"Unknown database alias {self.alias!r}; settings.DATABASES defines"
            f" {', '.join(self.known) or 'none'}. Pass one of those to {self.flag}."
        )


class MigrationLoadError(PilotError, RuntimeError):
    """The migration files cannot be loaded into a graph (import error, bad dependency, cycle)."""

    def __init__(self, problem: str, *, hint: str) -> None:
        self.problem = problem
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.problem} {self.hint}"


class GitError(PilotError, RuntimeError):
    """--since needs git and a ref that exists."""

    def __init__(self, problem: str) -> None:
        self.problem = problem

    def __str__(self) -> str:
        return self.problem


class BackfillDefinitionError(PilotError, ValueError):
    """A backfill names a model, field, expression or primary key it cannot batch over."""

    def __init__(self, problem: str, *, hint: str) -> None:
        self.problem = problem
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.problem} {self.hint}"


class BackfillInTransactionError(PilotError, RuntimeError):
    """A Backfill ran inside a transaction on PostgreSQL, where no batch could commit on its own."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __str__(self) -> str:
        return (
            f"Backfill {self.name} cannot run inside a transaction: every batch must commit on its own"
            " or its row locks are held until the end (set atomic = False on the migration)."
        )


class BackfillConflictError(PilotError, RuntimeError):
    """Another process advanced the same backfill's checkpoint while this one ran."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __str__(self) -> str:
        return (
            f"Another process advanced backfill {self.name} while this one was running; this batch was"
            " rolled back. Run one backfill process at a time ('pilot backfill --status' shows its host"
            " and pid)."
        )


class CheckpointTableMissingError(PilotError, RuntimeError):
    """The backfill checkpoint table does not exist in the database yet."""

    def __init__(self, alias: str) -> None:
        self.alias = alias

    def __str__(self) -> str:
        return (
            f"The backfill checkpoint table does not exist in database {self.alias!r}. Apply"
            " migration_pilot's migrations first ('python manage.py migrate migration_pilot'), and make a"
            " migration that uses Backfill depend on ('migration_pilot', '0004_backfill_checkpoint')."
        )


class UnknownBackfillError(PilotError, LookupError):
    """A backfill name or migration given on the command line matches no checkpoint or Backfill."""

    def __init__(self, problem: str, *, hint: str) -> None:
        self.problem = problem
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.problem} {self.hint}"
