"""Migration tests: django-test-migrations' API (`migrator` fixture, `MigratorTestCase`), without the wait.

- `Migrator`: `apply_initial_migration`, `apply_tested_migration` (forward or backward), `reset`, `round_trip`.
- `migration_pilot.testing.pytest_plugin`: the `migrator` / `migrator_factory` fixtures (pytest11 entry point).
- `migration_pilot.testing.unittest.MigratorTestCase`: the unittest twin, tagged `migration_test`.
"""

from __future__ import annotations

from migration_pilot.testing.migrator import Migrator
from migration_pilot.testing.roundtrip import RoundTripReport, TableDifference

__all__ = ["Migrator", "RoundTripReport", "TableDifference"]
