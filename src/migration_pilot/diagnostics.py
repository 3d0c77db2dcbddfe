"""Findings as values: Diagnostic and Severity. Nothing here prints."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from migration_pilot.plan.locks import LockImpact


class Severity(IntEnum):
    """How bad a finding is; ordered so `>=` compares against --fail-on."""

    INFO = 10
    WARNING = 20
    ERROR = 30

    @property
    def label(self) -> str:
        """Lower-case name, as used in config, flags and output."""
        return self.name.lower()

    @classmethod
    def parse(cls, value: str) -> Severity:
        """Severity from its name (case-insensitive); ValueError names the valid ones."""
        try:
            return cls[value.strip().upper()]
        except KeyError:
            valid = ", ".join(s.label for s in cls)
            raise ValueError(f"unknown severity {value!r} (use one of: {valid})") from None


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One finding: what is dangerous, where, and how to do it safely.

    `migration` and `operation` are None for project-level findings (a
    conflict, a missing migration), as the JSON contract promises.
    """

    rule: str
    severity: Severity
    message: str
    hint: str
    vendor: str
    app: str | None = None
    migration: str | None = None
    operation: int | None = None
    path: str | None = None
    line: int | None = None
    lock: LockImpact | None = None
    safe_alternative: str | None = None
    operation_description: str | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def to_json(self) -> dict[str, Any]:
        """The JSON contract of `pilot lint --format json`, plus optional detail keys."""
        data: dict[str, Any] = {
            "rule": self.rule,
            "severity": self.severity.label,
            "app": self.app,
            "migration": self.migration,
            "operation": self.operation,
            "message": self.message,
            "hint": self.hint,
            "path": self.path,
            "line": self.line,
            "vendor": self.vendor,
            "lock": self.lock.to_json() if self.lock else None,
            "safe_alternative": self.safe_alternative,
        }
        return data
