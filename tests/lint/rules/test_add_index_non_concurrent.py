import re

import pytest
from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models

from tests.lint.helpers import (
    assert_allows,
    assert_flags,
    lint_files,
    lint_one,
    lint_operations,
    migration_source,
)

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


# Field index fixes: Django's own index SQL, built concurrently, same schema ----------------

UNIQUE_NUMBER = migration_source([migrations.AlterField("invoice", "number", models.CharField(
    max_length=30, unique=True))], name="0002_unique")
FIELD_INDEX_CASES = {
    "add-char-field": ([migrations.AddField("invoice", "ref", models.CharField(
        max_length=20, db_index=True, null=True))], True, None),
    "add-foreign-key": ([migrations.AddField("invoice", "customer", models.ForeignKey(
        "testapp.customer", null=True, on_delete=models.CASCADE))], False, None),
    "alter-to-db-index": ([migrations.AlterField("invoice", "status", models.CharField(
        max_length=20, null=True, db_index=True))], True, None),
    "unique-to-db-index": ([migrations.AlterField("invoice", "number", models.CharField(
        max_length=30, db_index=True))], True, UNIQUE_NUMBER),
}


def _fix_case(case):
    operations, atomic, before = FIELD_INDEX_CASES[case]
    name = "0003_change" if before else "0002_change"
    original = migration_source(operations, atomic=atomic, name=name)
    if before:
        original = original.replace("'0001_initial'", "'0002_unique'")
        assert "'0002_unique'" in original
    files = {"0002_unique": before} if before else {}
    found = [d for d in lint_files({**files, name: original})
             if d.rule == "add-index-non-concurrent" and d.migration == name]
    return files, name, original, found


def _fixed_files(name, diagnostic):
    """{migration name: source} of a rendered fix: `name` itself, then each 'Save as' file."""
    first, *later = (diagnostic.safe_alternative or "").split("# --- next migration ---\n")
    files = {name: first}
    for text in later:
        (saved,) = re.findall(r"# Save as (\S+)\.py", text)
        files[saved] = text
    return files


@pytest.mark.parametrize("case", FIELD_INDEX_CASES)
def test_field_index_finding_has_a_fix_that_is_not_flagged(case):
    files, name, _, (diagnostic,) = _fix_case(case)
    fixed = _fixed_files(name, diagnostic)

    diagnostics = lint_files({**files, **fixed})

    assert all("CREATE INDEX CONCURRENTLY" in text and "atomic = False" in text
               for text in list(fixed.values())[1:])
    assert len(fixed) == (3 if case in {"add-char-field", "alter-to-db-index", "unique-to-db-index"}
                          else 2)
    assert [(d.rule, d.message) for d in diagnostics if d.migration in fixed] == []


@pytest.mark.parametrize("case", FIELD_INDEX_CASES)
def test_field_index_fix_gives_the_original_schema_on_postgresql(postgresql_server, tmp_path, case):
    from django.db.migrations.executor import MigrationExecutor
    from django.test import override_settings

    from tests.databases import scratch_connection
    from tests.lint.helpers import write_package
    from tests.lint.schema import pg_schema

    files, name, original, (diagnostic,) = _fix_case(case)
    fixed = _fixed_files(name, diagnostic)
    schemas = {}
    for label, package in (("original", write_package({**files, name: original})),
                           ("fixed", write_package({**files, **fixed}))):
        leaf = ("testapp", list(fixed)[-1] if label == "fixed" else name)
        with (scratch_connection("postgresql", postgresql_server, tmp_path / label) as connection,
              override_settings(MIGRATION_MODULES={"testapp": package})):
            MigrationExecutor(connection).migrate([leaf])
            forwards = pg_schema(connection)
            MigrationExecutor(connection).migrate([("testapp", "0002_unique" if files else
                                                    "0001_initial")])
            schemas[label] = (forwards, pg_schema(connection))

    assert schemas["fixed"] == schemas["original"]
    assert any("CREATE INDEX" in row[2] for row in schemas["fixed"][0]["indexes"])
