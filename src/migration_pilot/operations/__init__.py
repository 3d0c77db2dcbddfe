"""Migration operations of django-migration-pilot (re-exports only)."""

from __future__ import annotations

from migration_pilot.operations.backfill import Backfill

__all__ = ["Backfill"]
