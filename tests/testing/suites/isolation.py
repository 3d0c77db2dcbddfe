"""Run in this order (-p no:randomly): each test must not see the one before it."""

from django.db import connection


def columns(table):
    with connection.cursor() as cursor:
        return {c.name for c in connection.introspection.get_table_description(cursor, table)}


def test_1_writes_and_alters(migrator):
    state = migrator.apply_initial_migration(("ledger", "0003_fill_balance"))
    Account = state.apps.get_model("ledger", "Account")
    Account.objects.create(name="first", balance=10)
    Account.objects.update(name="changed")
    state = migrator.apply_tested_migration(("ledger", "0005_entry"))
    account = state.apps.get_model("ledger", "Account").objects.get()
    state.apps.get_model("ledger", "Entry").objects.create(account_id=account.pk, amount=1)


def test_2_sees_no_rows_of_test_1(migrator):
    state = migrator.apply_initial_migration(("ledger", "0003_fill_balance"))

    assert state.apps.get_model("ledger", "Account").objects.count() == 0
    assert "balance" in columns("ledger_account")


def test_3_fails_halfway(migrator):
    state = migrator.apply_initial_migration(("ledger", "0001_initial"))
    state.apps.get_model("ledger", "Account").objects.create(name="left behind?")
    raise AssertionError("deliberate failure at 0001")


def test_4_plain_test_sees_latest_schema(transactional_db):
    from tests.testing.ledger.models import Account, Entry

    assert columns("ledger_account") == {"id", "name", "status"}
    assert Account.objects.count() == 0
    assert Entry.objects.create(account=Account.objects.create(name="z"), amount=2).pk


def test_5_migrator_after_failure_gets_its_schema(migrator):
    state = migrator.apply_initial_migration(("ledger", "0002_account_balance"))

    assert columns("ledger_account") == {"id", "name", "balance"}
    assert state.apps.get_model("ledger", "Account").objects.count() == 0
