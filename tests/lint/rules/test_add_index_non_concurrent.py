from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models

from tests.lint.helpers import assert_allows, assert_flags, lint_one, lint_operations, migration_source

ADD_INDEX = migrations.AddIndex("invoice", models.Index(fields=["status"], name="invoice_status_idx"))


def test_flags_index_on_existing_table():
    assert_flags("add-index-non-concurrent", [ADD_INDEX])


def test_allows_index_on_table_created_in_same_migration():
    create = migrations.CreateModel("Ledger", [("id", models.BigAutoField(primary_key=True)),
                                               ("status", models.CharField(max_length=5))])
    index = migrations.AddIndex("ledger", models.Index(fields=["status"], name="ledger_status_idx"))

    assert_allows("add-index-non-concurrent", [create, index])


def test_allows_concurrent_index():
    op = AddIndexConcurrently("invoice", models.Index(fields=["status"], name="invoice_status_idx"))

    assert_allows("add-index-non-concurrent", [op], atomic=False)


def test_allows_on_mysql_and_sqlite():
    assert_allows("add-index-non-concurrent", [ADD_INDEX], vendor="mysql")
    assert_allows("add-index-non-concurrent", [ADD_INDEX], vendor="sqlite")


def test_flags_foreign_key_field_index():
    field = models.ForeignKey("testapp.customer", null=True, on_delete=models.CASCADE)

    diagnostic = assert_flags("add-index-non-concurrent", [migrations.AddField("invoice", "customer", field)],
                              atomic=False)

    assert diagnostic.message == (
        "Adding index on customer_id to testapp_invoice blocks writes to testapp_invoice"
        " until the index is built."
    )


def test_flags_create_index_in_run_sql():
    op = migrations.RunSQL("CREATE INDEX inv_num ON testapp_invoice (number);", migrations.RunSQL.noop)

    assert_flags("add-index-non-concurrent", [op])


def test_allows_create_index_concurrently_in_run_sql():
    op = migrations.RunSQL("CREATE INDEX CONCURRENTLY inv_num ON testapp_invoice (number)",
                           migrations.RunSQL.noop)

    assert_allows("add-index-non-concurrent", [op], atomic=False)


def test_message():
    (diagnostic,) = lint_one("add-index-non-concurrent", [ADD_INDEX])

    assert diagnostic.message == (
        "Adding index invoice_status_idx to testapp_invoice blocks writes to"
        " testapp_invoice until the index is built."
    )
    assert diagnostic.hint == "Use AddIndexConcurrently in its own migration with atomic = False."
    assert diagnostic.lock is not None
    assert diagnostic.lock.describe() == "SHARE lock on testapp_invoice (blocks writes; scans the table)"
    assert "AddIndexConcurrently('invoice', models.Index(fields=['status'], name='invoice_status_idx'))" in (
        diagnostic.safe_alternative or "")
    assert "atomic = False" in (diagnostic.safe_alternative or "")


def test_ignore_comment_suppresses():
    source = migration_source([ADD_INDEX]).replace(
        "        migrations.AddIndex(",
        "        # pilot: ignore add-index-non-concurrent -- invoice has 300 rows\n"
        "        migrations.AddIndex(",
    )

    assert_allows("add-index-non-concurrent", source=source)


def test_ignore_comment_without_reason_does_not_suppress():
    source = migration_source([ADD_INDEX]).replace(
        "        migrations.AddIndex(",
        "        # pilot: ignore add-index-non-concurrent\n        migrations.AddIndex(",
    )

    assert_flags("add-index-non-concurrent", source=source)
    assert_flags("invalid-suppression", source=source)


def test_foreign_key_in_an_atomic_migration_gets_one_finding_with_one_lock_story():
    field = models.ForeignKey("testapp.customer", null=True, on_delete=models.CASCADE)

    found = lint_operations([migrations.AddField("invoice", "customer", field)])

    assert [d.rule for d in found] == ["add-foreign-key-validating"]
    assert found[0].message.endswith("until the migration commits, including its index build.")


def test_foreign_key_in_a_non_atomic_migration_is_only_an_index_build():
    field = models.ForeignKey("testapp.customer", null=True, on_delete=models.CASCADE)

    found = lint_operations([migrations.AddField("invoice", "customer", field)], atomic=False)

    assert [d.rule for d in found] == ["add-index-non-concurrent"]
    assert "until the migration commits" not in found[0].message


def test_suppressing_the_foreign_key_finding_does_not_hide_the_index_build():
    field = models.ForeignKey("testapp.customer", null=True, on_delete=models.CASCADE)
    source = migration_source([migrations.AddField("invoice", "customer", field)]).replace(
        "        migrations.AddField(",
        "        # pilot: ignore add-foreign-key-validating -- customer is written once a day\n"
        "        migrations.AddField(",
    )

    assert [d.rule for d in lint_operations(source=source)] == ["add-index-non-concurrent"]
