from django.contrib.postgres.operations import AddConstraintNotValid
from django.db import migrations, models
from django.db.migrations.executor import MigrationExecutor
from django.test import override_settings

from migration_pilot.conf import Config
from tests.databases import scratch_connection
from tests.lint.helpers import (
    assert_allows,
    assert_flags,
    lint_files,
    lint_one,
    migration_source,
    write_package,
)

RULE = "set-not-null"
NOT_NULL = migrations.AlterField("invoice", "status", models.CharField(max_length=20, default="new"))
NOT_NULL_CHECK = models.CheckConstraint(condition=models.Q(status__isnull=False),
                                        name="invoice_status_not_null")


def test_flags_nullable_field_made_not_null():
    assert_flags(RULE, [NOT_NULL])


def test_message():
    (diagnostic,) = lint_one(RULE, [NOT_NULL])

    assert diagnostic.message == (
        "Making status NOT NULL on testapp_invoice blocks reads and writes to testapp_invoice"
        " while every row is checked for NULL."
    )
    assert diagnostic.hint == (
        "Add CHECK (col IS NOT NULL) NOT VALID, validate it in the next migration, then SET NOT"
        " NULL (no scan on PostgreSQL 12+) and drop the check."
    )
    assert diagnostic.lock is not None
    assert diagnostic.lock.describe() == (
        "ACCESS EXCLUSIVE lock on testapp_invoice (blocks reads and writes; scans the table)"
    )


def test_allows_field_that_was_already_not_null():
    op = migrations.AlterField("invoice", "number", models.CharField(max_length=30, default="x"))

    assert_allows(RULE, [op])


def test_allows_field_that_stays_nullable():
    op = migrations.AlterField("invoice", "status", models.CharField(max_length=20, null=True,
                                                                     default="new"))

    assert_allows(RULE, [op])


def test_allows_table_created_in_same_migration():
    create = migrations.CreateModel("Ledger", [("id", models.BigAutoField(primary_key=True)),
                                               ("note", models.TextField(null=True))])

    assert_allows(RULE, [create, migrations.AlterField("ledger", "note", models.TextField())])


def test_allows_on_mysql_and_sqlite():
    assert_allows(RULE, [NOT_NULL], vendor="mysql")
    assert_allows(RULE, [NOT_NULL], vendor="sqlite")


def test_allows_state_only_change():
    assert_allows(RULE, [migrations.SeparateDatabaseAndState(state_operations=[NOT_NULL])])


def test_allows_column_proven_by_a_validated_check_in_the_state():
    found = lint_files({
        "0002_check": migration_source([AddConstraintNotValid("invoice", NOT_NULL_CHECK)],
                                       name="0002_check"),
        "0003_not_null": migration_source([NOT_NULL], name="0003_not_null")
        .replace("0001_initial", "0002_check"),
    })

    assert [d for d in found if d.rule == RULE] == []


def test_flags_when_the_check_was_added_not_valid_in_the_same_migration():
    assert_flags(RULE, [AddConstraintNotValid("invoice", NOT_NULL_CHECK), NOT_NULL])


def test_flags_even_with_a_check_before_postgresql_12():
    found = lint_files({
        "0002_check": migration_source([AddConstraintNotValid("invoice", NOT_NULL_CHECK)],
                                       name="0002_check"),
        "0003_not_null": migration_source([NOT_NULL], name="0003_not_null")
        .replace("0001_initial", "0002_check"),
    }, config=Config(pg_version=11))
    (diagnostic,) = [d for d in found if d.rule == RULE]

    assert diagnostic.hint.startswith("Before PostgreSQL 12 SET NOT NULL always scans")
    assert diagnostic.safe_alternative is None


def test_flags_run_sql_set_not_null():
    op = migrations.RunSQL("ALTER TABLE testapp_order ALTER COLUMN note SET NOT NULL",
                           migrations.RunSQL.noop)

    (diagnostic,) = lint_one(RULE, [op])

    assert diagnostic.message == (
        "Making note NOT NULL on testapp_order blocks reads and writes to testapp_order while"
        " every row is checked for NULL."
    )


def test_allows_run_sql_on_table_created_in_same_migration():
    op = migrations.RunSQL("CREATE TABLE scratch (a int); ALTER TABLE scratch ALTER COLUMN a SET NOT NULL")

    assert_allows(RULE, [op])


def _steps(diagnostic):
    return (diagnostic.safe_alternative or "").split("# --- next migration ---\n")


def test_safe_alternative_uses_the_users_names():
    (diagnostic,) = lint_one(RULE, [NOT_NULL])
    first, second, third = _steps(diagnostic)

    assert ("AddConstraintNotValid('invoice', models.CheckConstraint(condition=models.Q(("
            "'status__isnull', False)), name='invoice_status_not_null'))") in first
    assert "ValidateConstraint('invoice', 'invoice_status_not_null')" in second
    assert "# 0003_invoice_status_validate" in second
    assert "state_operations=[migrations.AlterField('invoice', 'status'" in third
    assert 'ALTER TABLE "testapp_invoice" ALTER COLUMN "status" SET NOT NULL' in third
    assert "migrations.RemoveConstraint('invoice', 'invoice_status_not_null')" in third
    assert "dependencies = [('testapp', '0003_invoice_status_validate')]" in third


def test_safe_alternative_is_clean_and_applies_on_postgresql(postgresql_server, tmp_path):
    (diagnostic,) = lint_one(RULE, [NOT_NULL])
    files = dict(zip(["0002_change", "0003_invoice_status_validate", "0004_invoice_status_not_null"],
                     _steps(diagnostic), strict=True))
    assert [d.rule for d in lint_files(files) if d.migration is not None] == []
    package = write_package(files)

    with (scratch_connection("postgresql", postgresql_server, tmp_path) as connection,
          override_settings(MIGRATION_MODULES={"testapp": package})):
        MigrationExecutor(connection).migrate([("testapp", "0004_invoice_status_not_null")])
        with connection.cursor() as cursor:
            columns = connection.introspection.get_table_description(cursor, "testapp_invoice")
            constraints = connection.introspection.get_constraints(cursor, "testapp_invoice")

    assert [c.null_ok for c in columns if c.name == "status"] == [False]
    assert "invoice_status_not_null" not in constraints


def test_ignore_comment_suppresses():
    source = migration_source([NOT_NULL]).replace(
        "        migrations.AlterField(",
        "        # pilot: ignore set-not-null -- invoice has 30 rows\n        migrations.AlterField(",
    )

    assert_allows(RULE, source=source)
