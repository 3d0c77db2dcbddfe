"""What verify returns: one `Difference` per thing that is not as the migrations say."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

ERROR: Final = "error"
WARNING: Final = "warning"
INFO: Final = "info"

SCHEMA: Final = "schema"
HISTORY: Final = "history"
MODELS: Final = "models"


@dataclass(frozen=True, slots=True)
class Difference:
    """One difference, with its likely cause and a suggested fix (SQL or a migration).

    `kind` is a stable snake_case name (`missing_index`, `column_nullability`,
    `unmanaged_view`, ...); `table` is the table it concerns ('' for history
    findings that are not about a table); `object` names the column, index,
    constraint or migration.
    """

    kind: str
    table: str
    object: str
    expected: str
    actual: str
    cause: str = ""
    fix: str = ""
    severity: str = ERROR
    section: str = SCHEMA


@dataclass(frozen=True, slots=True)
class VerifyResult:
    """The three comparisons of one verify run.

    `differences` is the live schema against the reference (what the deploy
    pipeline gates on); `history` and `models` are the migration-history and
    models-against-migrations findings, kept apart because a deploy to an
    earlier --target leaves unapplied migrations on purpose.
    """

    alias: str
    reference: str
    """'shadow', 'cache', 'state' or 'alias:<name>'."""
    cached: bool
    differences: tuple[Difference, ...] = ()
    history: tuple[Difference, ...] = ()
    models: tuple[Difference, ...] = ()
    notes: tuple[str, ...] = ()
    vendor: str = ""
    applied: int = 0
    tables: int = 0
    duration_s: float = 0.0
    cache_path: str | None = field(default=None)

    @property
    def findings(self) -> tuple[Difference, ...]:
        """All three comparisons, schema first."""
        return self.differences + self.history + self.models

    @property
    def clean(self) -> bool:
        """True when nothing above info level was found in any comparison."""
        return not any(d.severity != INFO for d in self.findings)
