from django.db import migrations, models

from tests.lint.helpers import assert_allows, assert_flags, lint_one

RULE = "non-transactional-multi-ddl"
ADD = migrations.AddField("customer", "nickname", models.CharField(max_length=10, null=True))
FAILING = migrations.RunSQL("ALTER TABLE testapp_customer ADD COLUMN nickname varchar(5)")


def test_flags_two_schema_operations_on_mysql():
    assert_flags(RULE, [ADD, FAILING], vendor="mysql")


def test_flags_run_sql_with_several_ddl_statements():
    op = migrations.RunSQL("ALTER TABLE testapp_customer ADD COLUMN a int;"
                           " ALTER TABLE testapp_customer ADD COLUMN b int", migrations.RunSQL.noop)

    assert_flags(RULE, [op], vendor="mysql")


def test_allows_one_schema_operation_with_data():
    data = migrations.RunSQL("UPDATE testapp_customer SET nickname = name WHERE nickname IS NULL",
                             migrations.RunSQL.noop)

    assert_allows(RULE, [ADD, data, migrations.RunPython(migrations.RunPython.noop,
                                                         migrations.RunPython.noop)], vendor="mysql")


def test_allows_state_only_operations():
    ops = [ADD, migrations.AlterModelOptions("customer", {"ordering": ["id"]}),
           migrations.SeparateDatabaseAndState(state_operations=[
               migrations.AddField("customer", "other", models.IntegerField(null=True))])]

    assert_allows(RULE, ops, vendor="mysql")


def test_allows_creating_new_tables():
    ops = [migrations.CreateModel("Ledger", [("id", models.BigAutoField(primary_key=True)),
                                             ("note", models.TextField(default=""))]),
           migrations.AddField("ledger", "amount", models.IntegerField(default=0)),
           migrations.AddIndex("ledger", models.Index(fields=["amount"], name="ledger_amount_idx"))]

    assert_allows(RULE, ops, vendor="mysql")


def test_flags_new_table_next_to_a_change_of_an_existing_one():
    ops = [migrations.CreateModel("Ledger", [("id", models.BigAutoField(primary_key=True))]), ADD]

    assert_flags(RULE, ops, vendor="mysql")


def test_allows_postgresql_and_sqlite():
    assert_allows(RULE, [ADD, FAILING], vendor="postgresql")
    assert_allows(RULE, [ADD, FAILING], vendor="sqlite")


def test_message():
    (diagnostic,) = lint_one(RULE, [ADD, FAILING], vendor="mysql")

    assert diagnostic.message == (
        "Migration testapp.0002_change makes 2 schema changes (AddField, RunSQL) on"
        " MySQL/MariaDB, where every DDL statement commits at once: if a later one fails, the"
        " earlier ones stay applied and Django does not record the migration."
    )
    assert diagnostic.hint == (
        "Put one schema operation in each migration, so a failure leaves nothing half-applied."
    )
    assert diagnostic.lock is None
    assert diagnostic.safe_alternative == (
        "1. Move AddField into a migration of its own.\n"
        "2. Move RunSQL into a migration of its own.\n"
        "3. Chain them with dependencies, each on the one before."
    )
