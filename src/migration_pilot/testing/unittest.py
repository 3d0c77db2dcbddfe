"""`MigratorTestCase`: django-test-migrations' unittest class, on the snapshot-reusing session.

    class InvoiceStatusTest(MigratorTestCase):
        migrate_from = ("shop", "0002_invoice")
        migrate_to = ("shop", "0003_invoice_status")

        def prepare(self):
            self.old_state.apps.get_model("shop", "Invoice").objects.create(total=3)

        def test_backfilled(self):
            Invoice = self.new_state.apps.get_model("shop", "Invoice")
            assert Invoice.objects.get().status == "open"

Tagged `migration_test`: `manage.py test --exclude-tag migration_test` leaves them out.
"""

from __future__ import annotations

from typing import ClassVar

from django.db.migrations.state import ProjectState
from django.test import TransactionTestCase, tag

from migration_pilot.testing.migrator import Migrator
from migration_pilot.testing.targets import MigrationSpec


@tag("migration_test")
class MigratorTestCase(TransactionTestCase):
    """Starts each test at `migrate_from`, runs `prepare()`, migrates to `migrate_to`; resets afterwards."""

    database_name: ClassVar[str | None] = None
    migrate_from: ClassVar[MigrationSpec]
    migrate_to: ClassVar[MigrationSpec]
    old_state: ProjectState
    new_state: ProjectState

    def setUp(self) -> None:
        """Start state, the test's own rows, then the migration under test."""
        super().setUp()
        self._migrator = Migrator(self.database_name)
        self.addCleanup(self._migrator.reset)
        self.old_state = self._migrator.apply_initial_migration(self.migrate_from)
        self.prepare()
        self.new_state = self._migrator.apply_tested_migration(self.migrate_to)

    def _fixture_teardown(self) -> None:
        # reset() restored the copy taken before the first migration test: rows and schema are
        # already as they were, so flushing every table again would only cost time.
        migrator = getattr(self, "_migrator", None)
        if migrator is None or not migrator.restores or len(self._databases_names(include_mirrors=False)) != 1:
            super()._fixture_teardown()

    def prepare(self) -> None:
        """Create rows with `self.old_state.apps` before the migration runs (override it)."""

