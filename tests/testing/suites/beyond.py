"""Beyond DTM: backward targets, the round trip report, errors, MigratorTestCase."""

import pytest
from django.db import connections

from migration_pilot.exceptions import PilotError
from migration_pilot.testing.unittest import MigratorTestCase


def test_backward_runs_reverse_operations(migrator):
    state = migrator.apply_initial_migration(("ledger", "0002_account_balance"))
    state.apps.get_model("ledger", "Account").objects.create(name="abcd")
    state = migrator.apply_tested_migration(("ledger", "0003_fill_balance"))
    assert state.apps.get_model("ledger", "Account").objects.get().balance == 4

    state = migrator.apply_tested_migration(("ledger", "0002_account_balance"))

    assert state.apps.get_model("ledger", "Account").objects.get().balance == 0
    state = migrator.apply_tested_migration(("ledger", "0001_initial"))
    assert [f.name for f in state.apps.get_model("ledger", "Account")._meta.fields] == ["id", "name"]


def test_round_trip_reports_lossy_reverse(migrator):
    state = migrator.apply_initial_migration(("ledger", "0003_fill_balance"))
    state.apps.get_model("ledger", "Account").objects.create(name="abc", balance=7)

    report = migrator.round_trip(("ledger", "0004_account_status"))

    assert not report.lossless
    assert [(d.table, d.lost, d.changed) for d in report.backward] == [("ledger_account", 0, 1)]
    assert [(d.lost, d.changed) for d in report.forward_again] == [(0, 0)]
    assert "after backward: ledger_account: 0 rows lost, 1 changed" in str(report)


def test_round_trip_lossless(migrator):
    state = migrator.apply_initial_migration(("ledger", "0001_initial"))
    state.apps.get_model("ledger", "Account").objects.create(name="abc")

    report = migrator.round_trip(("ledger", "0002_account_balance"))

    assert report.lossless
    assert report.tables == ("ledger_account",)


def test_unknown_migration_is_one_line(migrator):
    with pytest.raises(PilotError) as caught:
        migrator.apply_initial_migration(("ledger", "0009_nope"))

    assert str(caught.value) == (
        "Migration target ('ledger', '0009_nope'): app 'ledger' has no migration '0009_nope'."
        " Use one of: 0001_initial, 0002_account_balance, 0003_fill_balance, 0004_account_status, 0005_entry.")


class TestBalanceWithUnittest(MigratorTestCase):
    migrate_from = ("ledger", "0002_account_balance")
    migrate_to = ("ledger", "0003_fill_balance")

    def prepare(self):
        self.old_state.apps.get_model("ledger", "Account").objects.create(name="four")

    def test_filled(self):
        Account = self.new_state.apps.get_model("ledger", "Account")

        assert Account.objects.get().balance == 4


@pytest.mark.django_db(transaction=True, databases=["default", "other"])
def test_factory_for_another_database(migrator_factory):
    other = migrator_factory("other")
    state = other.apply_initial_migration(("ledger", "0002_account_balance"))

    state.apps.get_model("ledger", "Account").objects.using("other").create(name="o")

    with connections["other"].cursor() as cursor:
        cursor.execute("SELECT name, balance FROM ledger_account")
        assert cursor.fetchall() == [("o", 0)]
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT COUNT(*), MIN(status) FROM ledger_account")
        assert cursor.fetchone() == (0, None)
