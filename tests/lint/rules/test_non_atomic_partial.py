from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models

from tests.lint.helpers import assert_allows, assert_flags, lint_one

RULE = "non-atomic-partial"
INDEX = AddIndexConcurrently("invoice", models.Index(fields=["status"], name="invoice_status_idx"))
ADD_FIELD = migrations.AddField("invoice", "memo", models.TextField(null=True))


def test_flags_two_operations():
    assert_flags(RULE, [ADD_FIELD, INDEX], atomic=False)


def test_flags_run_sql_with_several_statements():
    op = migrations.RunSQL("CREATE INDEX CONCURRENTLY a_idx ON testapp_invoice (status);"
                           " CREATE INDEX CONCURRENTLY b_idx ON testapp_invoice (number)",
                           migrations.RunSQL.noop)

    assert_flags(RULE, [op], atomic=False)


def test_flags_run_sql_list():
    op = migrations.RunSQL(["UPDATE testapp_order SET note = '' WHERE note IS NULL",
                            "UPDATE testapp_order SET quantity = 1 WHERE quantity IS NULL"],
                           migrations.RunSQL.noop)

    assert_flags(RULE, [op], atomic=False)


def test_allows_single_operation():
    assert_allows(RULE, [INDEX], atomic=False)
    assert_allows(RULE, [migrations.RunSQL("CREATE INDEX CONCURRENTLY a_idx ON testapp_invoice (status)",
                                           migrations.RunSQL.noop)], atomic=False)


def test_allows_single_operation_with_state_only_neighbours():
    ops = [INDEX, migrations.AlterModelOptions("invoice", {"ordering": ["id"]}),
           migrations.SeparateDatabaseAndState(state_operations=[ADD_FIELD])]

    assert_allows(RULE, ops, atomic=False)


def test_counts_database_operations_of_separate_database_and_state():
    op = migrations.SeparateDatabaseAndState(database_operations=[ADD_FIELD, INDEX])

    assert_flags(RULE, [op], atomic=False)


def test_allows_atomic_migration():
    assert_allows(RULE, [ADD_FIELD, migrations.AddField("invoice", "memo2", models.TextField(null=True))])


def test_vendors():
    assert_flags(RULE, [ADD_FIELD, INDEX], atomic=False, vendor="sqlite")
    assert_allows(RULE, [ADD_FIELD, INDEX], atomic=False, vendor="mysql")


def test_message():
    sql = migrations.RunSQL("UPDATE testapp_invoice SET memo = '' WHERE memo IS NULL;"
                            " UPDATE testapp_invoice SET status = 'draft' WHERE status IS NULL",
                            migrations.RunSQL.noop)

    (diagnostic,) = lint_one(RULE, [ADD_FIELD, sql], atomic=False)

    assert diagnostic.message == (
        "Migration testapp.0002_change has atomic = False and 3 database steps (AddField,"
        " RunSQL (2 statements)): if one fails, the steps before it stay applied and Django"
        " does not record the migration."
    )
    assert diagnostic.hint == (
        "Give each non-atomic operation a migration of its own and keep the other operations"
        " in atomic migrations."
    )
    assert diagnostic.safe_alternative == (
        "1. Move AddField into a migration of its own with atomic = False.\n"
        "2. Move RunSQL into a migration of its own, one statement per RunSQL; keep it atomic"
        " unless it needs atomic = False.\n"
        "3. Chain them with dependencies, each on the one before."
    )
