from django.contrib.postgres.operations import AddConstraintNotValid
from django.db import migrations, models
from django.db.migrations.executor import MigrationExecutor
from django.test import override_settings

from tests.databases import scratch_connection
from tests.lint.helpers import (
    assert_allows,
    assert_flags,
    lint_files,
    lint_one,
    migration_source,
    write_package,
)

RULE = "add-check-constraint-validating"
CHECK = models.CheckConstraint(condition=models.Q(amount__gte=0), name="invoice_amount_gte_0")
ADD_CHECK = migrations.AddConstraint("invoice", CHECK)


def test_flags_check_constraint_on_existing_table():
    assert_flags(RULE, [ADD_CHECK])


def test_message():
    (diagnostic,) = lint_one(RULE, [ADD_CHECK])

    assert diagnostic.message == (
        "Adding check constraint invoice_amount_gte_0 to testapp_invoice blocks reads and writes"
        " to testapp_invoice while every row is checked."
    )
    assert diagnostic.hint == (
        "Add it with AddConstraintNotValid, then ValidateConstraint in a later migration."
    )
    assert diagnostic.lock is not None
    assert diagnostic.lock.describe() == (
        "ACCESS EXCLUSIVE lock on testapp_invoice (blocks reads and writes; scans the table)"
    )


def test_safe_alternative_uses_the_users_names():
    (diagnostic,) = lint_one(RULE, [ADD_CHECK])
    code = diagnostic.safe_alternative or ""

    assert ("AddConstraintNotValid('invoice', models.CheckConstraint(condition=models.Q(("
            "'amount__gte', 0)), name='invoice_amount_gte_0'))") in code
    assert "ValidateConstraint('invoice', 'invoice_amount_gte_0')" in code
    assert "dependencies = [('testapp', '0002_change')]" in code


def test_safe_alternative_is_not_flagged_and_applies_on_postgresql(postgresql_server, tmp_path):
    (diagnostic,) = lint_one(RULE, [ADD_CHECK])
    first, second = (diagnostic.safe_alternative or "").split("# --- next migration ---\n")
    files = {"0002_change": first, "0003_validate": second}
    assert [d.rule for d in lint_files(files) if d.migration is not None] == []
    package = write_package(files)

    with (scratch_connection("postgresql", postgresql_server, tmp_path) as connection,
          override_settings(MIGRATION_MODULES={"testapp": package})):
        MigrationExecutor(connection).migrate([("testapp", "0002_change")])
        with connection.cursor() as cursor:
            cursor.execute("SELECT convalidated FROM pg_constraint WHERE conname = %s",
                           ["invoice_amount_gte_0"])
            before = cursor.fetchone()
        MigrationExecutor(connection).migrate([("testapp", "0003_validate")])
        with connection.cursor() as cursor:
            cursor.execute("SELECT convalidated FROM pg_constraint WHERE conname = %s",
                           ["invoice_amount_gte_0"])
            after = cursor.fetchone()

    assert (before, after) == ((False,), (True,))


def test_allows_table_created_in_same_migration():
    create = migrations.CreateModel("Ledger", [("id", models.BigAutoField(primary_key=True)),
                                               ("amount", models.IntegerField())])
    check = models.CheckConstraint(condition=models.Q(amount__gte=0), name="ledger_amount_gte_0")

    assert_allows(RULE, [create, migrations.AddConstraint("ledger", check)])


def test_allows_add_constraint_not_valid():
    assert_allows(RULE, [AddConstraintNotValid("invoice", CHECK)])


def test_allows_other_constraints():
    unique = models.UniqueConstraint(fields=["number"], name="invoice_number_uniq")

    assert_allows(RULE, [migrations.AddConstraint("invoice", unique)])


def test_allows_on_mysql_and_sqlite():
    assert_allows(RULE, [ADD_CHECK], vendor="mysql")
    assert_allows(RULE, [ADD_CHECK], vendor="sqlite")


def test_flags_run_sql_check_without_not_valid():
    op = migrations.RunSQL(
        "ALTER TABLE testapp_invoice ADD CONSTRAINT amount_positive CHECK (amount >= 0);",
        migrations.RunSQL.noop,
    )

    (diagnostic,) = lint_one(RULE, [op])

    assert diagnostic.message == (
        "Adding check constraint amount_positive to testapp_invoice blocks reads and writes to"
        " testapp_invoice while every row is checked."
    )
    assert diagnostic.hint == "Add it NOT VALID, then run VALIDATE CONSTRAINT in a later migration."


def test_allows_run_sql_check_not_valid():
    op = migrations.RunSQL(
        "ALTER TABLE testapp_invoice ADD CONSTRAINT amount_positive CHECK (amount >= 0) NOT VALID",
        migrations.RunSQL.noop,
    )

    assert_allows(RULE, [op])


def test_allows_state_only_constraint():
    op = migrations.SeparateDatabaseAndState(state_operations=[ADD_CHECK])

    assert_allows(RULE, [op])


def test_ignore_comment_suppresses():
    source = migration_source([ADD_CHECK]).replace(
        "        migrations.AddConstraint(",
        "        # pilot: ignore add-check-constraint-validating -- 40 rows, checked in 1 ms\n"
        "        migrations.AddConstraint(",
    )

    assert_allows(RULE, source=source)
