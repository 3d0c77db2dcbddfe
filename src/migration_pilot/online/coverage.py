"""Which lint findings the deploy's online form takes care of, so they need not refuse the deploy.

Lint judges a migration as `migrate` would run it. `pilot deploy` on
PostgreSQL runs Django's own schema operations in their online form (see
statements.py), so for these rules the hazard the finding describes does not
happen there. RunSQL and RunPython are not covered: their SQL is the
author's, and a finding on it still refuses.
"""

from __future__ import annotations

from typing import Any, Final

ONLINE_RULES: Final = frozenset({
    "add-index-non-concurrent",
    "add-foreign-key-validating",
    "add-check-constraint-validating",
    "add-unique-non-concurrent",
    "set-not-null",
})

# Django schema operations whose statements the online editor rewrites.
_SCHEMA_OPERATIONS: Final = frozenset({
    "AddIndex", "AddField", "AlterField", "AddConstraint", "AlterUniqueTogether", "AlterIndexTogether",
})


def online_rules_for(operation: Any) -> frozenset[str]:
    """The lint rules whose hazard the online form removes for `operation` (on PostgreSQL)."""
    kind = type(operation).__name__
    if kind not in _SCHEMA_OPERATIONS:
        return frozenset()
    field = getattr(operation, "field", None)
    if kind == "AddField" and field is not None and not field.null and field.has_default():
        # Django adds the column with its default and drops the default at once; the online
        # form keeps it until `pilot deploy --phase post`, so the running code's INSERTs work.
        return ONLINE_RULES | {"add-field-not-null"}
    return ONLINE_RULES


def handled_online(finding: Any, rules: frozenset[str], vendor: str) -> bool:
    """Whether `finding` is fixed by the online form, given its operation's `online_rules_for()`."""
    return vendor == "postgresql" and finding.rule in rules


def may_run_after_commit(migration: Any) -> bool:
    """Whether the online form may move part of `migration` after its transaction (so it may half-apply)."""
    return any(type(op).__name__ in _SCHEMA_OPERATIONS for op in migration.operations)
