"""`pilot rehearse`: the pending plan forward, backward and forward again on a scratch database."""

from __future__ import annotations

from migration_pilot.rehearse.errors import RehearseError
from migration_pilot.rehearse.runner import MigrationRehearsal, Rehearsal, rehearse

__all__ = ["MigrationRehearsal", "Rehearsal", "RehearseError", "rehearse"]
