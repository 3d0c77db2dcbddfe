"""Shared type aliases, so every module names the same things the same way."""

from __future__ import annotations

from typing import Final, Literal, TypeAlias

MigrationKey: TypeAlias = tuple[str, str]
"""(app_label, migration_name), as Django's migration graph keys nodes."""

ModelKey: TypeAlias = tuple[str, str]
"""(app_label, model_name_lower), as ProjectState keys models."""

Vendor: TypeAlias = Literal["postgresql", "mysql", "sqlite"]

VENDORS: Final[tuple[Vendor, ...]] = ("postgresql", "mysql", "sqlite")
