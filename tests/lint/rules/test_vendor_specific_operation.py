"""vendor-specific-operation: PostgreSQL-only operations in a project that also targets another database."""

import pytest
from django.contrib.postgres.operations import AddConstraintNotValid, AddIndexConcurrently, ValidateConstraint
from django.db import migrations, models
from django.db.migrations.executor import MigrationExecutor
from django.test import override_settings

from tests.databases import scratch_connection
from tests.lint.helpers import assert_allows, assert_flags, lint_one, migration_source, write_package

RULE = "vendor-specific-operation"
CONCURRENT = AddIndexConcurrently("order", models.Index(fields=["status"], name="order_status_idx"))


@pytest.mark.parametrize("vendor", ["mysql", "sqlite"])
def test_flags_add_index_concurrently_linted_for_another_vendor(vendor):
    finding = assert_flags(RULE, [CONCURRENT], atomic=False, vendor=vendor)

    assert f"also targets {vendor}" in finding.message
    assert "AddIndexConcurrently" in finding.message


def test_flags_postgresql_lint_when_the_vendors_setting_also_names_mysql():
    with override_settings(MIGRATION_PILOT={"vendors": ["postgresql", "mysql"]}):
        found = lint_one(RULE, [CONCURRENT], atomic=False, vendor="postgresql")

    assert len(found) == 1 and "also targets mysql" in found[0].message


def test_flags_the_settings_own_other_database():
    # The test settings' database is SQLite: linted for it (no --vendor), the operation is flagged.
    assert_flags(RULE, [CONCURRENT], atomic=False, vendor="sqlite")


def test_allows_postgresql_lint_of_a_project_whose_settings_are_for_development():
    # --vendor postgresql with SQLite settings and no vendors setting: PostgreSQL is the target.
    assert_allows(RULE, [CONCURRENT], atomic=False, vendor="postgresql")


def test_allows_a_postgresql_only_vendors_setting():
    with override_settings(MIGRATION_PILOT={"vendors": ["postgresql"]}):
        assert_allows(RULE, [CONCURRENT], atomic=False, vendor="postgresql")


@pytest.mark.parametrize("operation", [
    AddConstraintNotValid("order", models.CheckConstraint(condition=models.Q(quantity__gte=0), name="qty")),
    ValidateConstraint("order", "qty"),
])
def test_flags_other_postgresql_operations(operation):
    assert_flags(RULE, [operation], vendor="mysql")


@pytest.mark.parametrize("sql", [
    'CREATE INDEX CONCURRENTLY "x" ON "testapp_order" ("status")',
    'ALTER TABLE "testapp_order" ADD CONSTRAINT "c" CHECK ("quantity" >= 0) NOT VALID',
    ['ALTER TABLE "testapp_order" VALIDATE CONSTRAINT "c"'],
])
def test_flags_postgresql_only_run_sql(sql):
    assert_flags(RULE, [migrations.RunSQL(sql, migrations.RunSQL.noop)], atomic=False, vendor="sqlite")


def test_allows_portable_run_sql_and_online_operations():
    from migration_pilot.operations import AddIndexOnline

    online = AddIndexOnline("order", models.Index(fields=["status"], name="order_status_idx"))
    plain = migrations.RunSQL('UPDATE "testapp_order" SET "note" = \'\' WHERE "note" IS NULL')

    assert_allows(RULE, [online, plain], atomic=False, vendor="mysql")


def test_the_flagged_operation_really_fails_on_sqlite(tmp_path, scratch_db_access):
    # The finding's claim, on a real database of the other vendor.
    package = write_package({"0002_concurrent": migration_source([CONCURRENT], atomic=False)})
    with (scratch_connection("sqlite", None, tmp_path) as connection,
          override_settings(MIGRATION_MODULES={"testapp": package}), pytest.raises(TypeError, match="concurrently")):
        MigrationExecutor(connection).migrate([("testapp", "0002_concurrent")])
