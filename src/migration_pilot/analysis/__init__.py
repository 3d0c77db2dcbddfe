"""One analysis of the migration graph, read by lint, plan, docs and deploy.

`walk()` visits every migration in graph order with the project state before
each operation, computed incrementally; see `walk.py` for why it never clones
or renders the whole state.
"""

from __future__ import annotations

from migration_pilot.analysis.walk import (
    MigrationVisit,
    OperationVisit,
    Visitor,
    effective_operation_type,
    plan_order,
    walk,
)

__all__ = [
    "MigrationVisit",
    "OperationVisit",
    "Visitor",
    "effective_operation_type",
    "plan_order",
    "walk",
]
