"""Migration tests: django-test-migrations' API (`migrator` fixture, `MigratorTestCase`), without the wait.

- `Migrator`: `apply_initial_migration`, `apply_tested_migration` (forward or backward), `reset`, `round_trip`.
- `migration_pilot.testing.pytest_plugin`: the `migrator` / `migrator_factory` fixtures (pytest11 entry point).
- `migration_pilot.testing.unittest.MigratorTestCase`: the unittest twin, tagged `migration_test`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from migration_pilot.testing.migrator import Migrator
    from migration_pilot.testing.roundtrip import RoundTripReport, TableDifference

__all__ = ["Migrator", "RoundTripReport", "TableDifference"]


def __getattr__(name: str) -> Any:
    # Lazy: the pytest plugin lives in this package and is loaded into every pytest run,
    # Django or not, so importing the package must not import Django's migration machinery.
    if name == "Migrator":
        from migration_pilot.testing.migrator import Migrator

        return Migrator
    if name in {"RoundTripReport", "TableDifference"}:
        from migration_pilot.testing import roundtrip

        return getattr(roundtrip, name)
    raise AttributeError(name)
