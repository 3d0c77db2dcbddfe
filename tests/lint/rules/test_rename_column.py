import pytest
from django.db import migrations, models

from migration_pilot.conf import Config
from migration_pilot.lint.render import deploy_steps
from tests.lint.helpers import assert_allows, assert_flags, lint_files, lint_one, migration_source

RULE = "rename-column"
ONLY = Config(select=frozenset({RULE}))
VENDORS = ["postgresql", "mysql", "sqlite"]
RENAME_NOTE = migrations.RenameField("order", "note", "remark")
PIN_NOTE = migrations.AlterField("order", "note", models.TextField(blank=True, default="",
                                                                  db_column="note"))


def lint_after(setup, operations, **kwargs):
    """Findings of RULE for 0003_change, which runs `operations` after 0002_setup ran `setup`."""
    second = migration_source(operations, name="0003_change").replace(
        "('testapp', '0001_initial')", "('testapp', '0002_setup')")
    files = {"0002_setup": migration_source(setup, name="0002_setup"), "0003_change": second}
    return [d for d in lint_files(files, **kwargs) if d.rule == RULE and d.migration == "0003_change"]


@pytest.mark.parametrize("vendor", VENDORS)
def test_flags_rename_field_on_every_database(vendor):
    assert_flags(RULE, [RENAME_NOTE], vendor=vendor)


def test_message():
    (diagnostic,) = lint_one(RULE, [RENAME_NOTE])

    assert diagnostic.message == (
        "Renaming column note to remark in testapp_order breaks the running code,"
        " which still uses note."
    )
    assert diagnostic.hint == (
        "Keep the column name with db_column so only the Python name changes,"
        " or add a new column and move to it over several releases."
    )
    assert diagnostic.lock is not None
    assert diagnostic.lock.describe() == (
        "ACCESS EXCLUSIVE lock on testapp_order (blocks reads and writes)"
    )


def test_safe_alternative_pins_the_column_with_the_users_names():
    (diagnostic,) = lint_one(RULE, [RENAME_NOTE], vendor="sqlite")

    assert diagnostic.safe_alternative == (
        "from django.db import migrations, models\n"
        "\n"
        "\n"
        "class Migration(migrations.Migration):\n"
        "    # Keeps the column note (the schema differs from the original's by that name alone): also set"
        " db_column='note' on the field in models.py.\n"
        "    dependencies = [('testapp', '0001_initial')]\n"
        "    operations = [\n"
        "        migrations.AlterField('order', 'note',"
        " models.TextField(blank=True, db_column='note', default='')),\n"
        "        migrations.RenameField('order', 'note', 'remark'),\n"
        "    ]\n"
    )


def test_safe_alternative_on_postgresql_alone_is_an_online_rename_then_its_contract():
    (diagnostic,) = lint_one(RULE, [RENAME_NOTE])

    (first,), (second,) = deploy_steps(diagnostic.safe_alternative or "")
    assert diagnostic.safe_alternative.startswith("# === Deploy 1 of 2: pre-deploy")
    assert "RenameFieldOnline('order', 'note', 'remark')" in first and "atomic = False" in first
    assert "RenameFieldContract('order', 'note', 'remark')" in second
    assert "deploy_phase = 'post'" in second


@pytest.mark.parametrize("vendor", VENDORS)
def test_safe_alternative_is_not_flagged_itself(vendor):
    (diagnostic,) = lint_one(RULE, [RENAME_NOTE], vendor=vendor)

    for migration in deploy_steps(diagnostic.safe_alternative or "")[0]:
        assert_allows(RULE, source=migration, vendor=vendor)


def test_flags_foreign_key_rename_with_its_column_names():
    op = migrations.RenameField("order", "customer", "buyer")

    diagnostic = assert_flags(RULE, [op], config=ONLY)

    assert diagnostic.message.startswith("Renaming column customer_id to buyer_id in testapp_order ")
    # PostgreSQL alone: the online rename refuses a column in a foreign key, so there is no fix.
    assert diagnostic.safe_alternative is None
    on_sqlite = assert_flags(RULE, [op], config=ONLY, vendor="sqlite")
    assert "db_column='customer_id'" in (on_sqlite.safe_alternative or "")


def test_allows_rename_of_field_whose_db_column_stays():
    assert_allows(RULE, [PIN_NOTE, RENAME_NOTE])


def test_allows_state_only_rename():
    op = migrations.SeparateDatabaseAndState(state_operations=[RENAME_NOTE])

    assert_allows(RULE, [op])


def test_allows_table_created_in_same_migration():
    create = migrations.CreateModel("Ledger", [("id", models.BigAutoField(primary_key=True)),
                                               ("memo", models.TextField())])

    assert_allows(RULE, [create, migrations.RenameField("ledger", "memo", "remark")])


def test_allows_unmanaged_model():
    create = migrations.CreateModel("Legacy", [("id", models.BigAutoField(primary_key=True)),
                                               ("memo", models.TextField())],
                                    options={"managed": False})

    assert lint_after([create], [migrations.RenameField("legacy", "memo", "remark")],
                      config=ONLY) == []


def test_flags_rename_after_an_earlier_migration_created_the_table():
    create = migrations.CreateModel("Ledger", [("id", models.BigAutoField(primary_key=True)),
                                               ("memo", models.TextField())])

    assert lint_after([create], [migrations.RenameField("ledger", "memo", "remark")], config=ONLY)


def test_allows_many_to_many_field():
    add = migrations.AddField("order", "watchers", models.ManyToManyField("testapp.customer"))

    assert lint_after([add], [migrations.RenameField("order", "watchers", "followers")],
                      config=ONLY) == []


def test_flags_alter_field_changing_db_column():
    op = migrations.AlterField("invoice", "number", models.CharField(max_length=30, db_column="num"))

    diagnostic = assert_flags(RULE, [op], config=ONLY)

    assert diagnostic.message == (
        "Renaming column number to num in testapp_invoice breaks the running code,"
        " which still uses number."
    )
    # On PostgreSQL alone the pin (a schema other than the original's) is left out; elsewhere it is given.
    assert diagnostic.safe_alternative is None
    on_mysql = assert_flags(RULE, [op], config=ONLY, vendor="mysql")
    assert ("migrations.AlterField('invoice', 'number',"
            " models.CharField(db_column='number', max_length=30))") in (on_mysql.safe_alternative or "")


def test_flags_alter_field_dropping_db_column():
    op = migrations.AlterField("order", "note", models.TextField(blank=True, default=""))

    assert lint_after([migrations.AlterField("order", "note", models.TextField(
        blank=True, default="", db_column="memo"))], [op], config=ONLY)


def test_allows_alter_field_setting_db_column_to_the_current_name():
    assert_allows(RULE, [PIN_NOTE])


def test_allows_alter_field_of_other_attributes():
    op = migrations.AlterField("invoice", "number", models.CharField(max_length=40))

    assert_allows(RULE, [op], config=ONLY)


@pytest.mark.parametrize("vendor", VENDORS)
@pytest.mark.parametrize("sql", [
    "ALTER TABLE testapp_order RENAME COLUMN note TO remark",
    "ALTER TABLE IF EXISTS public.testapp_order RENAME note TO remark",
], ids=["rename-column", "rename-short"])
def test_flags_rename_column_in_run_sql(vendor, sql):
    diagnostic = assert_flags(RULE, [migrations.RunSQL(sql, migrations.RunSQL.noop)], vendor=vendor)

    assert diagnostic.message == (
        "Renaming column note to remark in testapp_order breaks the running code,"
        " which still uses note."
    )
    assert diagnostic.hint == (
        "Add the new column and move to it over several releases instead of renaming."
    )
    assert diagnostic.lock is not None and diagnostic.lock.table == "testapp_order"


@pytest.mark.parametrize("sql", [
    "ALTER TABLE testapp_order RENAME COLUMN legacy TO remark",
    "ALTER TABLE audit_log RENAME COLUMN note TO remark",
    "CREATE TABLE testapp_scratch (note text); ALTER TABLE testapp_scratch RENAME note TO remark",
    "ALTER TABLE testapp_order RENAME TO testapp_purchase",
    "ALTER TABLE testapp_order RENAME CONSTRAINT a TO b",
    "ALTER VIEW testapp_order RENAME COLUMN note TO remark",
], ids=["unmapped-column", "unknown-table", "new-table", "table-rename", "constraint", "view"])
def test_allows_run_sql_look_alikes(sql):
    assert_allows(RULE, [migrations.RunSQL(sql, migrations.RunSQL.noop)])


def test_ignore_comment_suppresses():
    source = migration_source([RENAME_NOTE]).replace(
        "        migrations.RenameField(",
        "        # pilot: ignore rename-column -- maintenance window, old code stopped first\n"
        "        migrations.RenameField(",
    )

    assert_allows(RULE, source=source)
