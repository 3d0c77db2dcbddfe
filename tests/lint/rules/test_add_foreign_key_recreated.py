"""add-foreign-key-validating: foreign keys Django drops and adds back (AlterField of a foreign key, RenameModel)."""

import pytest
from django.db import migrations, models
from django.db.migrations.executor import MigrationExecutor
from django.test.utils import CaptureQueriesContext, override_settings

from tests.databases import scratch_connection
from tests.lint.helpers import assert_allows, assert_flags, lint_files, lint_one, migration_source, write_package

RULE = "add-foreign-key-validating"

NULLABLE = '''from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("testapp", "0001_initial")]
    operations = [
        migrations.AlterField("invoice", "order", models.ForeignKey("testapp.order", null=True,
                                                                    on_delete=models.CASCADE)),
    ]
'''

NOT_NULL = '''from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("testapp", "0002_nullable")]
    operations = [
        migrations.AlterField("invoice", "order", models.ForeignKey("testapp.order",
                                                                    on_delete=models.CASCADE)),
    ]
'''


def test_flags_nullable_foreign_key_made_not_null():
    found = [d for d in lint_files({"0002_nullable": NULLABLE, "0003_not_null": NOT_NULL}) if d.rule == RULE]

    # Django's alter_field drops and re-adds the constraint for either change of NULL.
    assert [d.migration for d in found] == ["0002_nullable", "0003_not_null"]
    assert "drop its foreign key to testapp_order and add it back" in found[1].message
    assert "checks every row of testapp_invoice" in found[1].message


def test_flags_any_database_change_of_a_foreign_key():
    field = models.ForeignKey("testapp.order", on_delete=models.CASCADE, db_index=False)

    assert_flags(RULE, [migrations.AlterField("invoice", "order", field)])


@pytest.mark.parametrize("change", [
    {"on_delete": models.PROTECT}, {"related_name": "bills"}, {"verbose_name": "the order"},
    {"help_text": "which order"},
])
def test_allows_changes_django_writes_no_sql_for(change):
    kwargs = {"on_delete": models.CASCADE, **change}

    assert_allows(RULE, [migrations.AlterField("invoice", "order", models.ForeignKey("testapp.order", **kwargs))])


def test_flags_each_foreign_key_into_a_renamed_table():
    found = lint_one(RULE, [migrations.RenameModel("Order", "Purchase")])

    assert len(found) == 1
    assert "Renaming table testapp_order to testapp_purchase" in found[0].message
    assert "testapp_invoice.order_id" in found[0].message
    assert "db_table" in found[0].hint


def test_allows_rename_that_keeps_the_table():
    pin = migrations.AlterModelTable("order", "testapp_order")

    assert_allows(RULE, [pin, migrations.RenameModel("Order", "Purchase")])


def test_allows_rename_of_a_table_nothing_points_at():
    assert_allows(RULE, [migrations.RenameModel("Invoice", "Bill")])


def test_not_flagged_on_mysql_or_sqlite():
    for vendor in ("mysql", "sqlite"):
        assert_allows(RULE, [migrations.RenameModel("Order", "Purchase")], vendor=vendor)


def _executed(connection, files, target):
    """The SQL Django runs for the last migration of `files` on a database at the one before."""
    package = write_package(files)
    with override_settings(MIGRATION_MODULES={"testapp": package}):
        executor = MigrationExecutor(connection)
        executor.migrate([("testapp", target[0])])
        executor = MigrationExecutor(connection)
        with CaptureQueriesContext(connection) as queries:
            executor.migrate([("testapp", target[1])])
    return " ".join(q["sql"] for q in queries.captured_queries)


def test_postgresql_really_re_creates_the_constraint(postgresql_server, tmp_path):
    # The finding's claim, checked on a real server: Django drops the constraint and adds it back.
    with scratch_connection("postgresql", postgresql_server, tmp_path) as connection:
        sql = _executed(connection, {"0002_nullable": NULLABLE, "0003_not_null": NOT_NULL},
                        ("0002_nullable", "0003_not_null"))

    assert 'ALTER TABLE "testapp_invoice" DROP CONSTRAINT' in sql
    assert "FOREIGN KEY (\"order_id\") REFERENCES \"testapp_order\"" in sql


def test_postgresql_really_re_creates_constraints_into_a_renamed_table(postgresql_server, tmp_path):
    rename = migration_source([migrations.RenameModel("Order", "Purchase")]).replace(
        "('testapp', '0001_initial')", "('testapp', '0002_nullable')")
    with scratch_connection("postgresql", postgresql_server, tmp_path) as connection:
        sql = _executed(connection, {"0002_nullable": NULLABLE, "0003_rename": rename},
                        ("0002_nullable", "0003_rename"))

    assert 'REFERENCES "testapp_purchase"' in sql


HIDDEN = '''from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("testapp", "0001_initial")]
    operations = [
        migrations.AlterField("invoice", "order", models.ForeignKey("testapp.order", related_name="+",
                                                                    on_delete=models.CASCADE)),
    ]
'''


def _rename_after(parent):
    return migration_source([migrations.RenameModel("Order", "Purchase")]).replace(
        "('testapp', '0001_initial')", f"('testapp', '{parent}')")


def test_allows_rename_into_which_only_a_hidden_relation_points():
    # Django's RenameModel alters only _meta.related_objects, which leave out related_name="+".
    found = [d for d in lint_files({"0002_hidden": HIDDEN, "0003_rename": _rename_after("0002_hidden")})
             if d.rule == RULE and d.migration == "0003_rename"]

    assert found == []


def test_postgresql_leaves_a_hidden_relation_into_a_renamed_table_alone(postgresql_server, tmp_path):
    with scratch_connection("postgresql", postgresql_server, tmp_path) as connection:
        sql = _executed(connection, {"0002_hidden": HIDDEN, "0003_rename": _rename_after("0002_hidden")},
                        ("0002_hidden", "0003_rename"))

    assert "RENAME TO" in sql
    assert "FOREIGN KEY" not in sql and "DROP CONSTRAINT" not in sql
