"""`pilot maintain`: statistics and repairs for the tables recent deploys touched (runbook 8.1, 9.2).

targets.py    which tables (the run history's migrations, mapped by the migration walk), or --table
inspect.py    the report: size, dead tuples, estimated bloat, invalid and duplicate indexes
actions.py    the statements per vendor, what blocks, privileges, running them
after_deploy.py  the cheap, non-blocking part (ANALYZE) that `pilot deploy` runs by itself (--maintain)
"""

from __future__ import annotations

from migration_pilot.maintain.actions import (
    DEFAULT_DEAD_TUPLE_RATIO,
    Action,
    ActionResult,
    BlockingRefusedError,
    MissingPrivilegeError,
    check_privileges,
    plan_actions,
    refuse_blocking,
    run_actions,
)
from migration_pilot.maintain.inspect import IndexInfo, Inspection, TableStats, inspect_tables
from migration_pilot.maintain.targets import Targets, resolve_targets

__all__ = [
    "DEFAULT_DEAD_TUPLE_RATIO",
    "Action",
    "ActionResult",
    "BlockingRefusedError",
    "IndexInfo",
    "Inspection",
    "MissingPrivilegeError",
    "TableStats",
    "Targets",
    "check_privileges",
    "inspect_tables",
    "plan_actions",
    "refuse_blocking",
    "resolve_targets",
    "run_actions",
]
