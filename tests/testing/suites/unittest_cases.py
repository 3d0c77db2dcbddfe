"""MigratorTestCase classes run by Django's own test runner (manage.py test), not by pytest."""

from migration_pilot.testing.unittest import MigratorTestCase


class FillTest(MigratorTestCase):
    migrate_from = ("ledger", "0002_account_balance")
    migrate_to = ("ledger", "0003_fill_balance")

    def prepare(self):
        self.old_state.apps.get_model("ledger", "Account").objects.create(name="three")

    def test_filled(self):
        assert self.new_state.apps.get_model("ledger", "Account").objects.get().balance == 5


class FillThenNoRowsTest(MigratorTestCase):
    """Runs after FillTest (alphabetical order): must not see its row."""

    migrate_from = ("ledger", "0002_account_balance")
    migrate_to = ("ledger", "0003_fill_balance")

    def test_no_rows_from_the_other_test(self):
        assert self.new_state.apps.get_model("ledger", "Account").objects.count() == 0


class BackwardTest(MigratorTestCase):
    migrate_from = ("ledger", "0004_account_status")
    migrate_to = ("ledger", "0003_fill_balance")

    def test_balance_back(self):
        fields = [f.name for f in self.new_state.apps.get_model("ledger", "Account")._meta.fields]
        assert "balance" in fields and "status" not in fields
