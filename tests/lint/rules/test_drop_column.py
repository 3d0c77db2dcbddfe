import pytest
from django.db import migrations, models

from migration_pilot.conf import Config
from migration_pilot.lint.render import deploy_steps
from tests.lint.helpers import assert_allows, assert_flags, lint_files, lint_one, migration_source, staged_files

RULE = "drop-column"
ONLY = Config(select=frozenset({RULE}))
REMOVE_NOTE = migrations.RemoveField("order", "note")
VENDORS = ["postgresql", "mysql", "sqlite"]


@pytest.mark.parametrize("vendor", VENDORS)
def test_flags_remove_field_on_every_database(vendor):
    assert_flags(RULE, [REMOVE_NOTE], vendor=vendor)


def test_message():
    (diagnostic,) = lint_one(RULE, [REMOVE_NOTE])

    assert diagnostic.message == (
        "Dropping column note from testapp_order breaks the running code, which still selects it."
    )
    assert diagnostic.hint == (
        "Remove the field from the model with SeparateDatabaseAndState (state only) first;"
        " drop the column in a later release, once no running code selects it."
    )
    assert diagnostic.lock is not None
    assert diagnostic.lock.describe() == (
        "ACCESS EXCLUSIVE lock on testapp_order (blocks reads and writes)"
    )


def test_safe_alternative_makes_the_column_nullable_then_removes_state_only():
    (diagnostic,) = lint_one(RULE, [REMOVE_NOTE])

    code = diagnostic.safe_alternative or ""
    assert "migrations.AlterField('order', 'note', models.TextField(blank=True, default='', null=True))" in code
    assert ("migrations.SeparateDatabaseAndState(state_operations=[migrations.RemoveField('order', 'note')])"
            in code)
    assert "dependencies = [('testapp', '0001_initial')]" in code


def test_safe_alternative_skips_alter_field_for_a_nullable_column():
    (diagnostic,) = lint_one(RULE, [migrations.RemoveField("invoice", "status")])

    code = diagnostic.safe_alternative or ""
    assert "AlterField" not in code
    assert "state_operations=[migrations.RemoveField('invoice', 'status')]" in code


def test_safe_alternative_is_not_flagged_itself():
    (diagnostic,) = lint_one(RULE, [REMOVE_NOTE])

    files = staged_files(diagnostic.safe_alternative or "")
    assert len(files) == 2
    assert not [d for d in lint_files(files) if d.rule == RULE]


def test_safe_alternative_drops_it_post_deploy():
    (diagnostic,) = lint_one(RULE, [REMOVE_NOTE])

    (first,), (second,) = deploy_steps(diagnostic.safe_alternative or "")
    assert diagnostic.safe_alternative.startswith("# === Deploy 1 of 2: pre-deploy")
    assert "state_operations=[" in first and "deploy_phase" not in first
    assert "deploy_phase = 'post'" in second
    assert "dependencies = [('testapp', '0002_change')]" in second


def test_flags_foreign_key_with_its_column_name():
    diagnostic = assert_flags(RULE, [migrations.RemoveField("invoice", "order")], config=ONLY)

    assert diagnostic.message.startswith("Dropping column order_id from testapp_invoice ")


def test_flags_field_with_db_column():
    pin = migrations.AlterField("invoice", "number", models.CharField(max_length=30, db_column="inv_no"))

    diagnostic = assert_flags(RULE, [pin, migrations.RemoveField("invoice", "number")], config=ONLY)

    assert diagnostic.message.startswith("Dropping column inv_no from testapp_invoice ")


def test_allows_state_only_removal():
    op = migrations.SeparateDatabaseAndState(state_operations=[REMOVE_NOTE])

    assert_allows(RULE, [op])


def test_flags_removal_in_database_operations():
    op = migrations.SeparateDatabaseAndState(database_operations=[REMOVE_NOTE],
                                             state_operations=[REMOVE_NOTE])

    assert_flags(RULE, [op])


def test_allows_table_created_in_same_migration():
    create = migrations.CreateModel("Ledger", [("id", models.BigAutoField(primary_key=True)),
                                               ("memo", models.TextField())])

    assert_allows(RULE, [create, migrations.RemoveField("ledger", "memo")])


def lint_after(setup, operations, **kwargs):
    """Findings of RULE for 0003_change, which runs `operations` after 0002_setup ran `setup`."""
    second = migration_source(operations, name="0003_change").replace(
        "('testapp', '0001_initial')", "('testapp', '0002_setup')")
    files = {"0002_setup": migration_source(setup, name="0002_setup"), "0003_change": second}
    return [d for d in lint_files(files, **kwargs) if d.rule == RULE and d.migration == "0003_change"]


def test_flags_after_an_earlier_migration_created_the_table():
    create = migrations.CreateModel("Ledger", [("id", models.BigAutoField(primary_key=True)),
                                               ("memo", models.TextField())])

    assert lint_after([create], [migrations.RemoveField("ledger", "memo")], config=ONLY)


def test_allows_unmanaged_model():
    create = migrations.CreateModel("Legacy", [("id", models.BigAutoField(primary_key=True)),
                                               ("memo", models.TextField())],
                                    options={"managed": False})

    assert lint_after([create], [migrations.RemoveField("legacy", "memo")], config=ONLY) == []


def test_allows_many_to_many_field():
    add = migrations.AddField("order", "watchers", models.ManyToManyField("testapp.customer"))

    assert_allows(RULE, [add, migrations.RemoveField("order", "watchers")], config=ONLY)


@pytest.mark.parametrize("vendor", VENDORS)
def test_flags_drop_column_in_run_sql(vendor):
    op = migrations.RunSQL("ALTER TABLE testapp_order DROP COLUMN note", migrations.RunSQL.noop)

    diagnostic = assert_flags(RULE, [op], vendor=vendor)

    assert diagnostic.message == (
        "Dropping column note from testapp_order breaks the running code, which still selects it."
    )
    assert diagnostic.lock is not None and diagnostic.lock.table == "testapp_order"


def test_flags_each_dropped_column_of_one_statement():
    op = migrations.RunSQL(
        "ALTER TABLE IF EXISTS testapp_order DROP COLUMN IF EXISTS note CASCADE, DROP COLUMN quantity",
        migrations.RunSQL.noop,
    )

    found = lint_one(RULE, [op])

    assert [d.message.split()[2] for d in found] == ["note", "quantity"]


def test_allows_run_sql_drop_of_a_column_no_model_maps():
    state_only = migrations.SeparateDatabaseAndState(state_operations=[REMOVE_NOTE])
    drop = migrations.RunSQL("ALTER TABLE testapp_order DROP COLUMN note", migrations.RunSQL.noop)

    assert_allows(RULE, [state_only, drop])


def test_allows_run_sql_on_a_table_no_model_maps():
    op = migrations.RunSQL("ALTER TABLE audit_log DROP COLUMN note", migrations.RunSQL.noop)

    assert_allows(RULE, [op])


def test_allows_run_sql_on_a_table_created_in_the_same_migration():
    op = migrations.RunSQL(
        "CREATE TABLE testapp_order (id bigint, note text); ALTER TABLE testapp_order DROP COLUMN note",
        migrations.RunSQL.noop,
    )

    assert_allows(RULE, [op])


def test_allows_other_alter_table_commands():
    op = migrations.RunSQL("ALTER TABLE testapp_order ALTER COLUMN note DROP DEFAULT",
                           migrations.RunSQL.noop)

    assert_allows(RULE, [op])


def test_ignore_comment_suppresses():
    source = migration_source([REMOVE_NOTE]).replace(
        "        migrations.RemoveField(",
        "        # pilot: ignore drop-column -- no release still reads note\n"
        "        migrations.RemoveField(",
    )

    assert_allows(RULE, source=source)


def test_allows_column_of_a_table_the_migration_drops_later():
    # What makemigrations writes when a model goes: its foreign keys first, then the model.
    operations = [migrations.RemoveField("invoice", "order"), migrations.DeleteModel("invoice")]

    assert_allows(RULE, operations)


def test_flags_column_when_a_different_table_is_dropped_later():
    operations = [migrations.RemoveField("invoice", "order"), migrations.DeleteModel("customer")]

    assert_flags(RULE, operations)
