"""Migration operations of django-migration-pilot (re-exports only)."""

from __future__ import annotations

from migration_pilot.operations.backfill import Backfill
from migration_pilot.operations.online import (
    AddConstraintOnline,
    AddFieldOnline,
    AddIndexOnline,
    AlterFieldOnline,
    AlterModelTableOnline,
    RemoveIndexOnline,
    RenameFieldContract,
    RenameFieldOnline,
    RenameModelOnline,
    RenameTableContract,
)

__all__ = ["AddConstraintOnline", "AddFieldOnline", "AddIndexOnline", "AlterFieldOnline", "AlterModelTableOnline",
           "Backfill", "RemoveIndexOnline", "RenameFieldContract", "RenameFieldOnline", "RenameModelOnline",
           "RenameTableContract"]
