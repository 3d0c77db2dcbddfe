"""A test module written for django-test-migrations: only the `migrator` fixture, no imports of it."""

import pytest
from django.db.migrations.state import ProjectState


def test_data_migration_fills_balance(migrator):
    old_state = migrator.apply_initial_migration(("ledger", "0002_account_balance"))
    Account = old_state.apps.get_model("ledger", "Account")
    Account.objects.create(name="abc")

    new_state = migrator.apply_tested_migration(("ledger", "0003_fill_balance"))

    assert isinstance(new_state, ProjectState)
    assert new_state.apps.get_model("ledger", "Account").objects.get().balance == 3


def test_initial_none_means_no_table(migrator):
    old_state = migrator.apply_initial_migration(("ledger", None))
    with pytest.raises(LookupError):
        old_state.apps.get_model("ledger", "Account")

    new_state = migrator.apply_tested_migration(("ledger", "0001_initial"))

    assert new_state.apps.get_model("ledger", "Account").objects.count() == 0


def test_list_of_targets(migrator):
    old_state = migrator.apply_initial_migration([("ledger", "0001_initial"), ("auth", "0001_initial")])
    old_state.apps.get_model("ledger", "Account").objects.create(name="x")

    new_state = migrator.apply_tested_migration([("ledger", "0002_account_balance")])

    assert new_state.apps.get_model("ledger", "Account").objects.get().balance == 0


def test_factory_and_reset(migrator_factory):
    migrator = migrator_factory("default")
    migrator.apply_initial_migration(("ledger", "0001_initial"))
    migrator.reset()

    from tests.testing.ledger.models import Account

    assert Account.objects.create(name="y").status == "open"


@pytest.mark.django_db
def test_with_a_django_db_mark_as_dtm_docs_write_it(migrator):
    old_state = migrator.apply_initial_migration(("ledger", "0001_initial"))
    old_state.apps.get_model("ledger", "Account").objects.create(name="marked")

    new_state = migrator.apply_tested_migration(("ledger", "0002_account_balance"))

    assert new_state.apps.get_model("ledger", "Account").objects.get().balance == 0
