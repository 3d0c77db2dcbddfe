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
    first, fill, second, third = _steps(diagnostic)

    assert ("AddConstraintNotValid('invoice', models.CheckConstraint(condition=models.Q(("
            "'status__isnull', False)), name='invoice_status_not_null'))") in first
    assert "rows.filter(pk__in=batch).update(status=value)" in fill and "value = 'new'" in fill
    assert "ValidateConstraint('invoice', 'invoice_status_not_null')" in second
    assert "# 0004_invoice_status_validate" in second
    assert "dependencies = [('testapp', '0003_invoice_status_fill')]" in second
    assert "state_operations=[migrations.AlterField('invoice', 'status'" in third
    assert 'ALTER TABLE "testapp_invoice" ALTER COLUMN "status" SET NOT NULL' in third
    assert "migrations.RemoveConstraint('invoice', 'invoice_status_not_null')" in third
    assert "dependencies = [('testapp', '0004_invoice_status_validate')]" in third


def test_safe_alternative_without_a_default_fills_nothing():
    op = migrations.AlterField("invoice", "status", models.CharField(max_length=20))
    (diagnostic,) = lint_one(RULE, [op])

    assert len(_steps(diagnostic)) == 3 and "RunPython" not in (diagnostic.safe_alternative or "")


def test_safe_alternative_is_clean_and_applies_on_postgresql(postgresql_server, tmp_path):
    (diagnostic,) = lint_one(RULE, [NOT_NULL])
    files = dict(zip(["0002_change", "0003_invoice_status_fill", "0004_invoice_status_validate",
                      "0005_invoice_status_not_null"], _steps(diagnostic), strict=True))
    assert [d.rule for d in lint_files(files) if d.migration is not None] == []
    package = write_package(files)

    with (scratch_connection("postgresql", postgresql_server, tmp_path) as connection,
          override_settings(MIGRATION_MODULES={"testapp": package})):
        MigrationExecutor(connection).migrate([("testapp", "0005_invoice_status_not_null")])
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


def test_fix_gives_null_rows_the_default_as_djangos_alter_field_does_on_postgresql(postgresql_server, tmp_path):
    """Found on wagtail 0046: AlterField to NOT NULL with a default first sets the NULL rows to it."""
    from django.db.migrations.executor import MigrationExecutor
    from django.test.utils import override_settings

    from migration_pilot.lint.render import deploy_steps
    from tests.databases import scratch_connection
    from tests.lint.helpers import migration_source, write_package

    op = migrations.AlterField("invoice", "status", models.CharField(max_length=20, default="open", blank=True))
    (diagnostic,) = lint_one(RULE, [op])
    (chunks,) = deploy_steps(diagnostic.safe_alternative or "")
    layouts = {"original": {"0002_change": migration_source([op])},
               "fixed": dict(zip(["0002_change", "0003_invoice_status_fill", "0004_invoice_status_validate",
                                  "0005_invoice_status_not_null"], chunks, strict=True))}
    found = {}
    for label, files in layouts.items():
        package = write_package(files)
        with (scratch_connection("postgresql", postgresql_server, tmp_path / label) as connection,
              override_settings(MIGRATION_MODULES={"testapp": package})):
            MigrationExecutor(connection).migrate([("testapp", "0001_initial")])
            with connection.cursor() as cursor:
                cursor.execute("INSERT INTO testapp_customer (name, email) VALUES ('c', 'c@example.com')"
                               " RETURNING id")
                customer = cursor.fetchone()[0]
                cursor.execute("INSERT INTO testapp_order (status, total, note, quantity, customer_id)"
                               " VALUES ('new', 0, '', 1, %s) RETURNING id", [customer])
                order = cursor.fetchone()[0]
                cursor.execute("INSERT INTO testapp_invoice (number, status, amount, order_id)"
                               " VALUES ('A1', NULL, 1, %s), ('A2', 'paid', 1, %s)", [order, order])
            MigrationExecutor(connection).migrate([("testapp", list(files)[-1])])
            with connection.cursor() as cursor:
                cursor.execute("SELECT number, status FROM testapp_invoice ORDER BY number")
                rows = cursor.fetchall()
                cursor.execute("SELECT is_nullable FROM information_schema.columns"
                               " WHERE table_name = 'testapp_invoice' AND column_name = 'status'")
                found[label] = (rows, cursor.fetchone()[0])

    assert found["fixed"] == found["original"] == ([("A1", "open"), ("A2", "paid")], "NO")
