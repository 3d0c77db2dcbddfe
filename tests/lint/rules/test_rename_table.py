import pytest
from django.db import migrations, models

from migration_pilot.conf import Config
from tests.lint.helpers import assert_allows, assert_flags, lint_files, lint_one, migration_source

RULE = "rename-table"
ONLY = Config(select=frozenset({RULE}))
VENDORS = ["postgresql", "mysql", "sqlite"]
RENAME_INVOICE = migrations.RenameModel("Invoice", "Bill")
ADD_WATCHERS = migrations.AddField("order", "watchers", models.ManyToManyField("testapp.customer"))


def lint_after(setup, operations, **kwargs):
    """Findings of RULE for 0003_change, which runs `operations` after 0002_setup ran `setup`."""
    second = migration_source(operations, name="0003_change").replace(
        "('testapp', '0001_initial')", "('testapp', '0002_setup')")
    files = {"0002_setup": migration_source(setup, name="0002_setup"), "0003_change": second}
    return [d for d in lint_files(files, **kwargs) if d.rule == RULE and d.migration == "0003_change"]


@pytest.mark.parametrize("vendor", VENDORS)
def test_flags_rename_model_on_every_database(vendor):
    assert_flags(RULE, [RENAME_INVOICE], vendor=vendor, config=ONLY)


def test_message():
    (diagnostic,) = lint_one(RULE, [RENAME_INVOICE], config=ONLY)

    assert diagnostic.message == (
        "Renaming table testapp_invoice to testapp_bill breaks the running code,"
        " which still queries testapp_invoice."
    )
    assert diagnostic.hint == (
        "Keep the table name with Meta.db_table so only the Python name changes,"
        " or create the new table and move to it over several releases."
    )
    assert diagnostic.lock is not None
    assert diagnostic.lock.describe() == (
        "ACCESS EXCLUSIVE lock on testapp_invoice (blocks reads and writes)"
    )


def test_safe_alternative_pins_the_table_with_the_users_names():
    (diagnostic,) = lint_one(RULE, [RENAME_INVOICE], config=ONLY)

    assert diagnostic.safe_alternative == (
        "from django.db import migrations\n"
        "\n"
        "\n"
        "class Migration(migrations.Migration):\n"
        "    # Also set db_table = 'testapp_invoice' in Bill's Meta.\n"
        "    dependencies = [('testapp', '0001_initial')]\n"
        "    operations = [\n"
        "        migrations.AlterModelTable('invoice', 'testapp_invoice'),\n"
        "        migrations.RenameModel('Invoice', 'Bill'),\n"
        "    ]\n"
    )


@pytest.mark.parametrize("vendor", VENDORS)
def test_safe_alternative_is_not_flagged_itself(vendor):
    (diagnostic,) = lint_one(RULE, [RENAME_INVOICE], vendor=vendor, config=ONLY)

    assert_allows(RULE, source=diagnostic.safe_alternative, vendor=vendor, config=ONLY)


def test_allows_rename_of_model_whose_db_table_stays():
    pin = migrations.AlterModelTable("invoice", "testapp_invoice")

    assert_allows(RULE, [pin, RENAME_INVOICE], config=ONLY)


def test_allows_rename_that_keeps_the_default_table_name():
    assert_allows(RULE, [migrations.RenameModel("Invoice", "invoice")], config=ONLY)


def test_allows_state_only_rename():
    op = migrations.SeparateDatabaseAndState(state_operations=[RENAME_INVOICE])

    assert_allows(RULE, [op], config=ONLY)


def test_allows_table_created_in_same_migration():
    create = migrations.CreateModel("Ledger", [("id", models.BigAutoField(primary_key=True))])

    assert_allows(RULE, [create, migrations.RenameModel("Ledger", "Journal")], config=ONLY)


@pytest.mark.parametrize("options", [{"managed": False}, {"proxy": True}], ids=["unmanaged", "proxy"])
def test_allows_models_without_a_table_of_their_own(options):
    fields = [] if options.get("proxy") else [("id", models.BigAutoField(primary_key=True))]
    bases = ("testapp.order",) if options.get("proxy") else (models.Model,)
    create = migrations.CreateModel("Legacy", fields, options=options, bases=bases)

    assert lint_after([create], [migrations.RenameModel("Legacy", "Old")], config=ONLY) == []


def test_flags_alter_model_table():
    op = migrations.AlterModelTable("invoice", "bills")

    diagnostic = assert_flags(RULE, [op], config=ONLY)

    assert diagnostic.message == (
        "Renaming table testapp_invoice to bills breaks the running code,"
        " which still queries testapp_invoice."
    )
    assert diagnostic.safe_alternative is None


def test_flags_alter_model_table_back_to_the_default_name():
    pin = migrations.AlterModelTable("invoice", "bills")

    (diagnostic,) = lint_after([pin], [migrations.AlterModelTable("invoice", None)], config=ONLY)

    assert diagnostic.message.startswith("Renaming table bills to testapp_invoice ")


def test_allows_alter_model_table_to_the_current_name():
    assert_allows(RULE, [migrations.AlterModelTable("invoice", "testapp_invoice")], config=ONLY)


def test_allows_alter_model_table_of_a_new_table():
    create = migrations.CreateModel("Ledger", [("id", models.BigAutoField(primary_key=True))])

    assert_allows(RULE, [create, migrations.AlterModelTable("ledger", "ledgers")], config=ONLY)


def test_flags_rename_of_many_to_many_field():
    op = migrations.RenameField("order", "watchers", "followers")

    (diagnostic,) = lint_after([ADD_WATCHERS], [op], config=ONLY)

    assert diagnostic.message == (
        "Renaming table testapp_order_watchers to testapp_order_followers breaks the running"
        " code, which still queries testapp_order_watchers."
    )
    assert "db_table='testapp_order_watchers'" in (diagnostic.safe_alternative or "")


def test_many_to_many_safe_alternative_is_not_flagged_itself():
    op = migrations.RenameField("order", "watchers", "followers")
    (diagnostic,) = lint_after([ADD_WATCHERS], [op], config=ONLY)
    code = (diagnostic.safe_alternative or "").replace("('testapp', '0001_initial')",
                                                       "('testapp', '0002_setup')")

    found = lint_files({"0002_setup": migration_source([ADD_WATCHERS], name="0002_setup"),
                        "0003_change": code}, config=ONLY)

    assert [d for d in found if d.rule == RULE] == []


def test_allows_rename_of_many_to_many_field_added_in_same_migration():
    op = migrations.RenameField("order", "watchers", "followers")

    assert_allows(RULE, [ADD_WATCHERS, op], config=ONLY)


def test_allows_rename_of_many_to_many_field_with_db_table():
    add = migrations.AddField("order", "watchers",
                              models.ManyToManyField("testapp.customer", db_table="order_watch"))

    assert lint_after([add], [migrations.RenameField("order", "watchers", "followers")],
                      config=ONLY) == []


def test_allows_rename_of_a_plain_field():
    assert_allows(RULE, [migrations.RenameField("order", "note", "remark")], config=ONLY)


@pytest.mark.parametrize("vendor", VENDORS)
def test_flags_rename_table_in_run_sql(vendor):
    op = migrations.RunSQL("ALTER TABLE testapp_invoice RENAME TO bills", migrations.RunSQL.noop)

    diagnostic = assert_flags(RULE, [op], vendor=vendor)

    assert diagnostic.message == (
        "Renaming table testapp_invoice to bills breaks the running code,"
        " which still queries testapp_invoice."
    )
    assert diagnostic.hint == "Keep the old table name (Meta.db_table) instead of renaming the table."
    assert diagnostic.lock is not None and diagnostic.lock.table == "testapp_invoice"


@pytest.mark.parametrize("sql", [
    "ALTER TABLE audit_log RENAME TO audit_entries",
    "CREATE TABLE testapp_scratch (id int); ALTER TABLE testapp_scratch RENAME TO testapp_tmp",
    "ALTER INDEX testapp_invoice RENAME TO bills",
    "ALTER TABLE testapp_invoice RENAME COLUMN number TO num",
], ids=["unknown-table", "new-table", "index", "column"])
def test_allows_run_sql_look_alikes(sql):
    assert_allows(RULE, [migrations.RunSQL(sql, migrations.RunSQL.noop)])


def test_ignore_comment_suppresses():
    source = migration_source([migrations.AlterModelTable("invoice", "bills")]).replace(
        "        migrations.AlterModelTable(",
        "        # pilot: ignore rename-table -- maintenance window, old code stopped first\n"
        "        migrations.AlterModelTable(",
    )

    assert_allows(RULE, source=source, config=ONLY)


@pytest.mark.parametrize("vendor", VENDORS)
def test_online_rename_leaves_a_view_on_postgresql_and_mysql(vendor):
    from migration_pilot.operations import AlterModelTableOnline, RenameModelOnline

    for operation in (RenameModelOnline("Invoice", "Bill"), AlterModelTableOnline("invoice", "billing")):
        if vendor in ("postgresql", "mysql"):
            assert_allows(RULE, [operation], vendor=vendor, config=ONLY)
        else:
            assert_flags(RULE, [operation], vendor=vendor, config=ONLY)
