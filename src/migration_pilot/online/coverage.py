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


def online_rules_for(operation: Any, *, app_label: str = "", state: Any = None,
                     connection: Any = None) -> frozenset[str]:
    """The lint rules whose hazard the online form removes for `operation` (on PostgreSQL).

    With the state before the operation and a connection, a column type change
    counts too when it would rewrite the table and the catalog shows it can be
    swapped.
    """
    kind = type(operation).__name__
    if kind not in _SCHEMA_OPERATIONS:
        return frozenset()
    field = getattr(operation, "field", None)
    if kind == "AddField" and field is not None and not field.null and field.has_default():
        # Django adds the column with its default and drops the default at once; the online
        # form keeps it until `pilot deploy --phase post`, so the running code's INSERTs work.
        return ONLINE_RULES | {"add-field-not-null"}
    if kind == "AlterField" and _swappable(operation, app_label, state, connection):
        return ONLINE_RULES | {"alter-column-type"}
    return ONLINE_RULES


def _swappable(operation: Any, app_label: str, state: Any, connection: Any) -> bool:
    """Whether the online form changes this AlterField's column type by a swap (see swap.py)."""
    if state is None or connection is None or connection.vendor != "postgresql":
        return False
    from migration_pilot.analysis.schema import table_of
    from migration_pilot.online.swap import column_facts

    model = state.models.get((app_label, operation.model_name_lower))
    old = model.fields.get(operation.name) if model is not None else None
    new = operation.field
    if old is None or old.primary_key or new.primary_key or old.is_relation or new.is_relation:
        return False
    new_type = new.db_type(connection)
    if not new_type or new_type == old.db_type(connection):
        return False
    try:
        facts = column_facts(connection, table_of(model, 63), old.db_column or operation.name, new_type)
    except Exception:  # the plan still shows the finding; nothing is promised
        return False
    return facts is not None and not facts.blockers and bool(facts.rewrites)


def handled_online(finding: Any, rules: frozenset[str], vendor: str) -> bool:
    """Whether `finding` is fixed by the online form, given its operation's `online_rules_for()`."""
    return vendor == "postgresql" and finding.rule in rules


def may_run_after_commit(migration: Any, state: Any = None, existing_tables: frozenset[str] | None = None) -> bool:
    """Whether the online form may move part of `migration` after its transaction (so it may half-apply).

    With the state before it and the tables that existed before the deploy, only operations on those
    tables count (the online form leaves tables the deploy created alone).
    """
    from migration_pilot.analysis.schema import table_of

    for op in migration.operations:
        if type(op).__name__ not in _SCHEMA_OPERATIONS:
            continue
        if state is None or existing_tables is None:
            return True
        model = state.models.get((migration.app_label, getattr(op, "model_name_lower", "")))
        if model is None or table_of(model, 63) in existing_tables:
            return True
    return False
