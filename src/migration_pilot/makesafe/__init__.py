"""`pilot makesafe`: rewrite a migration into its online form (the online operations, atomic = False)."""

from __future__ import annotations

from migration_pilot.makesafe.rewrite import CannotMakeSafeError, SafeRewrite, make_safe, write

__all__ = ["CannotMakeSafeError", "SafeRewrite", "make_safe", "write"]
