"""Rules: declaration, discovery and selection.

A rule is one module under `lint/rules/`; its id is the module name in kebab
case and its documentation is the module docstring, so nothing is typed twice.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from migration_pilot.diagnostics import Severity
from migration_pilot.exceptions import UnknownRuleError
from migration_pilot.plan.locks import LockImpact
from migration_pilot.types import VENDORS

if TYPE_CHECKING:
    from migration_pilot.lint.context import (
        MigrationContext,
        OperationContext,
        ProjectContext,
        SqlContext,
    )

CATEGORIES = ("locks", "breaks-code", "data", "hygiene", "project", "meta")
DOC_SECTIONS = ("## What it does", "## Why is this dangerous?", "## Safe alternative",
                "## Not flagged", "## Databases")


@dataclass(frozen=True, slots=True)
class Finding:
    """What a check yields; the engine adds the rule, severity and location."""

    message: str
    hint: str
    lock: LockImpact | None = None
    safe_alternative: str | None = None
    operation: int | None = None
    # Project checks name where a finding belongs; operation checks get it from the walk.
    app: str | None = None
    migration: str | None = None
    # Rules whose finding on the same operation this one already explains (with the right locks):
    # one operation, one finding per hazard.
    covers: frozenset[str] = frozenset()
    # Every operation of the migration the fix takes the place of, when that is more than the
    # finding's own (an AddField the fix must run first): the rendered fix names them all.
    replaces: tuple[int, ...] = ()


OperationCheck = Callable[["OperationContext", Any], Iterator[Finding]]
SqlCheck = Callable[["SqlContext", Any], Iterator[Finding]]
MigrationCheck = Callable[["MigrationContext"], Iterator[Finding]]
ProjectCheck = Callable[["ProjectContext"], Iterator[Finding]]


class Rule:
    """One lint rule; checks register on operation types, SQL node types, migrations or the project."""

    def __init__(
        self,
        module_name: str,
        *,
        severity: Severity,
        vendors: Iterable[str] = VENDORS,
        category: str,
        added_in: str = "0.1.0",
    ) -> None:
        if category not in CATEGORIES:
            raise ValueError(f"unknown rule category {category!r}")
        self.module_name = module_name
        self.id = module_name.rsplit(".", 1)[-1].replace("_", "-")
        self.severity = severity
        self.vendors = frozenset(vendors)
        self.category = category
        self.added_in = added_in
        self.operation_checks: dict[type, list[OperationCheck]] = {}
        self.sql_checks: dict[type, list[SqlCheck]] = {}
        self.migration_checks: list[MigrationCheck] = []
        self.project_checks: list[ProjectCheck] = []

    @property
    def doc(self) -> str:
        """The module docstring: the source of the rule's documentation page."""
        module = sys.modules.get(self.module_name)
        return (module.__doc__ or "").strip() if module else ""

    @property
    def summary(self) -> str:
        """First line of the docstring."""
        return self.doc.splitlines()[0].strip() if self.doc else self.id

    def applies_to(self, vendor: str) -> bool:
        """Whether the rule runs when the target database is `vendor`."""
        return vendor in self.vendors

    def on(self, *operation_types: type) -> Callable[[OperationCheck], OperationCheck]:
        """Register a check for operations whose effective type is one of `operation_types`."""

        def register(check: OperationCheck) -> OperationCheck:
            for operation_type in operation_types:
                self.operation_checks.setdefault(operation_type, []).append(check)
            return check

        return register

    def on_sql(self, *node_types: type) -> Callable[[SqlCheck], SqlCheck]:
        """Register a check for parsed RunSQL statements of the given pglast node types."""

        def register(check: SqlCheck) -> SqlCheck:
            for node_type in node_types:
                self.sql_checks.setdefault(node_type, []).append(check)
            return check

        return register

    def on_migration(self, check: MigrationCheck) -> MigrationCheck:
        """Register a check that sees a whole migration after its operations."""
        self.migration_checks.append(check)
        return check

    def on_project(self, check: ProjectCheck) -> ProjectCheck:
        """Register a check that sees the whole project once."""
        self.project_checks.append(check)
        return check


@functools.cache
def all_rules() -> tuple[Rule, ...]:
    """Every rule module under migration_pilot.lint.rules, sorted by id."""
    from migration_pilot.lint import rules as package

    found: list[Rule] = []
    for module_info in pkgutil.iter_modules(package.__path__):
        module = importlib.import_module(f"{package.__name__}.{module_info.name}")
        rule = getattr(module, "rule", None)
        if isinstance(rule, Rule):
            found.append(rule)
    return tuple(sorted(found, key=lambda r: r.id))


def rules_by_id() -> dict[str, Rule]:
    """Rules keyed by id."""
    return {rule.id: rule for rule in all_rules()}


def resolve_rule_ids(values: Iterable[str], *, source: str) -> frozenset[str]:
    """Validate rule ids from config or flags; an unknown one is an error, never ignored."""
    known = rules_by_id()
    resolved = set()
    for value in values:
        rule_id = value.strip()
        if not rule_id:
            continue
        if rule_id not in known:
            raise UnknownRuleError(rule_id, source=source)
        resolved.add(rule_id)
    return frozenset(resolved)
