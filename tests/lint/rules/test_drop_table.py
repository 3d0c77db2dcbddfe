import pytest
from django.db import migrations, models

from migration_pilot.conf import Config
from migration_pilot.lint.render import deploy_steps
from tests.lint.helpers import assert_allows, assert_flags, lint_files, lint_one, migration_source, staged_files

RULE = "drop-table"
ONLY = Config(select=frozenset({RULE}))
VENDORS = ["postgresql", "mysql", "sqlite"]
DELETE_INVOICE = migrations.DeleteModel("invoice")
ADD_WATCHERS = migrations.AddField("order", "watchers", models.ManyToManyField("testapp.customer"))


def lint_after(setup, operations, **kwargs):
    """Findings of RULE for 0003_change, which runs `operations` after 0002_setup ran `setup`."""
    second = migration_source(operations, name="0003_change").replace(
        "('testapp', '0001_initial')", "('testapp', '0002_setup')")
    files = {"0002_setup": migration_source(setup, name="0002_setup"), "0003_change": second}
    return [d for d in lint_files(files, **kwargs) if d.rule == RULE and d.migration == "0003_change"]


@pytest.mark.parametrize("vendor", VENDORS)
def test_flags_delete_model_on_every_database(vendor):
    assert_flags(RULE, [DELETE_INVOICE], vendor=vendor)


def test_message():
    (diagnostic,) = lint_one(RULE, [DELETE_INVOICE])

    assert diagnostic.message == (
        "Dropping table testapp_invoice breaks the running code, which still queries it."
    )
    assert diagnostic.hint == (
        "Delete the model with SeparateDatabaseAndState (state only) first;"
        " drop the table in a later release, once no running code queries it."
    )
    assert diagnostic.lock is not None
    assert diagnostic.lock.describe() == (
        "ACCESS EXCLUSIVE lock on testapp_invoice (blocks reads and writes)"
    )


def test_safe_alternative_drops_foreign_key_constraints_then_deletes_state_only():
    (diagnostic,) = lint_one(RULE, [DELETE_INVOICE])

    code = diagnostic.safe_alternative or ""
    assert ("migrations.AlterField('invoice', 'order', models.ForeignKey(db_constraint=False,"
            " on_delete=django.db.models.deletion.CASCADE, to='testapp.order'))") in code
    assert "import django.db.models.deletion" in code
    assert ("migrations.SeparateDatabaseAndState(state_operations=[migrations.DeleteModel('invoice')])"
            in code)


def test_safe_alternative_is_not_flagged_itself():
    (diagnostic,) = lint_one(RULE, [DELETE_INVOICE])

    files = staged_files(diagnostic.safe_alternative or "")
    assert len(files) == 2
    assert not [d for d in lint_files(files) if d.rule == RULE]


def test_safe_alternative_drops_it_post_deploy():
    (diagnostic,) = lint_one(RULE, [DELETE_INVOICE])

    (first,), (second,) = deploy_steps(diagnostic.safe_alternative or "")
    assert diagnostic.safe_alternative.startswith("# === Deploy 1 of 2: pre-deploy")
    assert "state_operations=[" in first and "deploy_phase" not in first
    assert "deploy_phase = 'post'" in second
    assert "dependencies = [('testapp', '0002_change')]" in second


def test_safe_alternative_skips_self_references_and_constraintless_keys():
    create = migrations.CreateModel("Node", [
        ("id", models.BigAutoField(primary_key=True)),
        ("parent", models.ForeignKey("testapp.node", null=True, on_delete=models.CASCADE)),
        ("order", models.ForeignKey("testapp.order", db_constraint=False, on_delete=models.CASCADE)),
    ])

    (diagnostic,) = lint_after([create], [migrations.DeleteModel("node")], config=ONLY)

    assert "AlterField" not in (diagnostic.safe_alternative or "")


def test_allows_state_only_delete():
    op = migrations.SeparateDatabaseAndState(state_operations=[DELETE_INVOICE])

    assert_allows(RULE, [op])


def test_flags_delete_in_database_operations():
    op = migrations.SeparateDatabaseAndState(database_operations=[DELETE_INVOICE],
                                             state_operations=[DELETE_INVOICE])

    assert_flags(RULE, [op])


def test_allows_table_created_in_same_migration():
    create = migrations.CreateModel("Ledger", [("id", models.BigAutoField(primary_key=True))])

    assert_allows(RULE, [create, migrations.DeleteModel("ledger")])


def test_flags_model_created_by_an_earlier_migration():
    create = migrations.CreateModel("Ledger", [("id", models.BigAutoField(primary_key=True))])

    (diagnostic,) = lint_after([create], [migrations.DeleteModel("ledger")], config=ONLY)

    assert diagnostic.message.startswith("Dropping table testapp_ledger ")


@pytest.mark.parametrize("options", [{"managed": False}, {"proxy": True}], ids=["unmanaged", "proxy"])
def test_allows_models_without_a_table_of_their_own(options):
    fields = [] if options.get("proxy") else [("id", models.BigAutoField(primary_key=True))]
    bases = ("testapp.order",) if options.get("proxy") else (models.Model,)
    create = migrations.CreateModel("Legacy", fields, options=options, bases=bases)

    assert lint_after([create], [migrations.DeleteModel("legacy")], config=ONLY) == []


def test_flags_custom_db_table():
    pin = migrations.AlterModelTable("invoice", "bills")

    diagnostic = assert_flags(RULE, [pin, DELETE_INVOICE], config=ONLY)

    assert diagnostic.message.startswith("Dropping table bills ")


def test_flags_removal_of_many_to_many_field():
    (diagnostic,) = lint_after([ADD_WATCHERS], [migrations.RemoveField("order", "watchers")],
                               config=ONLY)

    assert diagnostic.message == (
        "Dropping table testapp_order_watchers breaks the running code, which still queries it."
    )
    assert ("state_operations=[migrations.RemoveField('order', 'watchers')]"
            in (diagnostic.safe_alternative or ""))


def test_allows_many_to_many_field_added_in_same_migration():
    assert_allows(RULE, [ADD_WATCHERS, migrations.RemoveField("order", "watchers")], config=ONLY)


def test_flags_many_to_many_field_with_db_table():
    field = models.ManyToManyField("testapp.customer", db_table="order_watch")
    add = migrations.AddField("order", "watchers", field)

    (diagnostic,) = lint_after([add], [migrations.RemoveField("order", "watchers")], config=ONLY)

    assert diagnostic.message.startswith("Dropping table order_watch ")


def test_allows_many_to_many_field_with_explicit_through():
    through = migrations.CreateModel("Watch", [
        ("id", models.BigAutoField(primary_key=True)),
        ("order", models.ForeignKey("testapp.order", on_delete=models.CASCADE)),
        ("customer", models.ForeignKey("testapp.customer", on_delete=models.CASCADE)),
    ])
    add = migrations.AddField("order", "watchers",
                              models.ManyToManyField("testapp.customer", through="testapp.Watch"))

    assert lint_after([through, add], [migrations.RemoveField("order", "watchers")],
                      config=ONLY) == []


def test_allows_removal_of_a_plain_field():
    assert_allows(RULE, [migrations.RemoveField("order", "note")])


@pytest.mark.parametrize("vendor", VENDORS)
def test_flags_drop_table_in_run_sql(vendor):
    op = migrations.RunSQL("DROP TABLE IF EXISTS public.testapp_invoice, audit_log CASCADE",
                           migrations.RunSQL.noop)

    (diagnostic,) = lint_one(RULE, [op], vendor=vendor)

    assert diagnostic.message == (
        "Dropping table testapp_invoice breaks the running code, which still queries it."
    )
    assert diagnostic.hint == (
        "Delete the model with SeparateDatabaseAndState (state only) first;"
        " run DROP TABLE in a later release."
    )
    assert diagnostic.lock is not None and diagnostic.lock.table == "testapp_invoice"


def test_allows_run_sql_drop_after_state_only_delete():
    state_only = migrations.SeparateDatabaseAndState(state_operations=[DELETE_INVOICE])
    drop = migrations.RunSQL("DROP TABLE testapp_invoice", migrations.RunSQL.noop)

    assert_allows(RULE, [state_only, drop])


@pytest.mark.parametrize("sql", [
    "DROP TABLE audit_log",
    "DROP VIEW testapp_invoice",
    "DROP INDEX testapp_invoice",
    "CREATE TABLE testapp_scratch (id int); DROP TABLE testapp_scratch",
], ids=["unknown-table", "view", "index", "new-table"])
def test_allows_run_sql_look_alikes(sql):
    assert_allows(RULE, [migrations.RunSQL(sql, migrations.RunSQL.noop)])


def test_ignore_comment_suppresses():
    source = migration_source([DELETE_INVOICE]).replace(
        "        migrations.DeleteModel(",
        "        # pilot: ignore drop-table -- invoices moved to the billing service last release\n"
        "        migrations.DeleteModel(",
    )

    assert_allows(RULE, source=source)
