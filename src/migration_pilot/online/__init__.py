"""Zero-downtime execution: the online form of plain Django operations, applied by the deploy."""

from __future__ import annotations

from migration_pilot.online.coverage import ONLINE_RULES, handled_online
from migration_pilot.online.editor import OnlineSession, online_schema_editor
from migration_pilot.online.statements import Deferred, Rewrite, Step, rewrite
from migration_pilot.online.steps import OnlineStepError
from migration_pilot.online.undo import redo_committed_part, undo_committed_part

__all__ = [
    "ONLINE_RULES",
    "Deferred",
    "OnlineSession",
    "OnlineStepError",
    "Rewrite",
    "Step",
    "handled_online",
    "online_schema_editor",
    "redo_committed_part",
    "rewrite",
    "undo_committed_part",
]
