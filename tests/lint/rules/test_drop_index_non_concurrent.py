import re

from django.contrib.postgres.operations import RemoveIndexConcurrently
from django.db import migrations, models
from django.db.migrations.executor import MigrationExecutor
from django.test import override_settings

from tests.databases import scratch_connection
from tests.lint.helpers import (
    assert_allows,
    assert_flags,
    lint_files,
    lint_one,
    migration_source,
    write_package,
)

RULE = "drop-index-non-concurrent"
ADD_INDEX = migrations.AddIndex("invoice", models.Index(fields=["status"], name="invoice_status_idx"))
REMOVE_INDEX = migrations.RemoveIndex("invoice", "invoice_status_idx")
INDEXED = migrations.AlterField("invoice", "number", models.CharField(max_length=30, db_index=True))
UNINDEXED = migrations.AlterField("invoice", "number", models.CharField(max_length=30))


def lint_after_index(operations, **kwargs):
    """Findings for 0003_change, run after 0002 adds invoice_status_idx and indexes number."""
    files = {
        "0002_index": migration_source([ADD_INDEX, INDEXED], name="0002_index"),
        "0003_change": migration_source(operations, name="0003_change", **kwargs).replace(
            "('testapp', '0001_initial')", "('testapp', '0002_index')"),
    }
    vendor = kwargs.pop("vendor", "postgresql")
    return [d for d in lint_files(files, vendor=vendor)
            if d.rule == RULE and d.migration == "0003_change"]


def test_flags_remove_index_on_existing_table():
    assert_flags(RULE, [ADD_INDEX, REMOVE_INDEX])


def test_message():
    (diagnostic,) = lint_one(RULE, [ADD_INDEX, REMOVE_INDEX])

    assert diagnostic.message == (
        "Dropping index invoice_status_idx from testapp_invoice blocks reads and writes on"
        " testapp_invoice while DROP INDEX waits for and holds its ACCESS EXCLUSIVE lock."
    )
    assert diagnostic.hint == "Use RemoveIndexConcurrently in its own migration with atomic = False."
    assert diagnostic.lock is not None
    assert diagnostic.lock.describe() == "ACCESS EXCLUSIVE lock on testapp_invoice (blocks reads and writes)"
    assert diagnostic.operation == 1


def test_safe_alternative_uses_remove_index_concurrently():
    (diagnostic,) = lint_one(RULE, [ADD_INDEX, REMOVE_INDEX])

    assert diagnostic.safe_alternative == (
        "from django.contrib.postgres.operations import RemoveIndexConcurrently\n"
        "from django.db import migrations\n"
        "\n"
        "\n"
        "class Migration(migrations.Migration):\n"
        "    atomic = False\n"
        "    dependencies = [('testapp', '0001_initial')]\n"
        "    operations = [\n"
        "        RemoveIndexConcurrently('invoice', 'invoice_status_idx'),\n"
        "    ]\n"
    )


def test_allows_remove_index_concurrently():
    findings = lint_after_index([RemoveIndexConcurrently("invoice", "invoice_status_idx")], atomic=False)

    assert findings == []


def test_allows_index_on_table_created_in_same_migration():
    create = migrations.CreateModel("Ledger", [("id", models.BigAutoField(primary_key=True)),
                                               ("status", models.CharField(max_length=5))])
    add = migrations.AddIndex("ledger", models.Index(fields=["status"], name="ledger_status_idx"))
    remove = migrations.RemoveIndex("ledger", "ledger_status_idx")

    assert_allows(RULE, [create, add, remove])


def test_allows_on_mysql_and_sqlite():
    assert_allows(RULE, [ADD_INDEX, REMOVE_INDEX], vendor="mysql")
    assert_allows(RULE, [ADD_INDEX, REMOVE_INDEX], vendor="sqlite")


def test_flags_alter_field_dropping_db_index():
    (diagnostic,) = lint_after_index([UNINDEXED])

    assert diagnostic.message == (
        "Dropping index on number from testapp_invoice blocks reads and writes on testapp_invoice"
        " while DROP INDEX waits for and holds its ACCESS EXCLUSIVE lock."
    )
    assert diagnostic.hint.startswith("Drop the index with DROP INDEX CONCURRENTLY in RunSQL")


def test_alter_field_alternative_drops_django_index_names_concurrently():
    (diagnostic,) = lint_after_index([UNINDEXED])
    code = diagnostic.safe_alternative or ""

    assert "atomic = False" in code
    assert "migrations.SeparateDatabaseAndState(" in code
    assert "database_operations=[migrations.RunPython(drop_invoice_number_indexes," \
        " create_invoice_number_indexes)]" in code
    assert '"DROP INDEX CONCURRENTLY IF EXISTS "' in code
    assert "state_operations=[migrations.AlterField('invoice', 'number'" in code
    assert "# --- next migration ---" not in code  # db_index was the only change


def test_alter_field_alternative_is_not_flagged():
    (diagnostic,) = lint_after_index([UNINDEXED])
    files = {
        "0002_index": migration_source([ADD_INDEX, INDEXED], name="0002_index"),
        "0003_change": diagnostic.safe_alternative or "",
    }

    findings = [d for d in lint_files(files) if d.migration == "0003_change"
                and d.rule in {RULE, "concurrent-in-atomic"}]

    assert findings == [], [d.message for d in findings]


def test_allows_alter_field_keeping_index():
    other = migrations.AlterField("invoice", "number",
                                  models.CharField(max_length=40, db_index=True))

    assert lint_after_index([other]) == []


def test_alter_field_to_unique_is_left_to_add_unique_rule():
    unique = migrations.AlterField("invoice", "number", models.CharField(max_length=30, unique=True))

    assert lint_after_index([unique]) == []


def test_flags_alter_index_together_removing_entry():
    create = migrations.AlterIndexTogether("invoice", {("number", "status")})
    drop = migrations.AlterIndexTogether("invoice", set())
    files = {
        "0002_index": migration_source([create], name="0002_index"),
        "0003_change": migration_source([drop], name="0003_change").replace(
            "('testapp', '0001_initial')", "('testapp', '0002_index')"),
    }

    (diagnostic,) = [d for d in lint_files(files) if d.rule == RULE and d.migration == "0003_change"]

    assert diagnostic.message.startswith("Dropping index on (number, status) from testapp_invoice")


def test_flags_drop_index_in_run_sql():
    op = migrations.RunSQL("DROP INDEX invoice_status_idx;", migrations.RunSQL.noop)

    diagnostic = assert_flags(RULE, [ADD_INDEX, op])

    assert diagnostic.hint == "Use DROP INDEX CONCURRENTLY in a migration with atomic = False."
    assert diagnostic.lock is not None
    assert diagnostic.lock.table == "testapp_invoice"


def test_drop_index_of_unknown_index_in_run_sql_names_no_table():
    op = migrations.RunSQL("DROP INDEX IF EXISTS legacy_idx", migrations.RunSQL.noop)

    (diagnostic,) = lint_one(RULE, [op])

    assert diagnostic.message == (
        "Dropping index legacy_idx blocks reads and writes on its table"
        " while DROP INDEX waits for and holds its ACCESS EXCLUSIVE lock."
    )
    assert diagnostic.lock is None


def test_flags_each_index_of_a_multi_index_drop():
    op = migrations.RunSQL("DROP INDEX a_idx, public.b_idx", migrations.RunSQL.noop)

    assert [d.message.split()[2] for d in lint_one(RULE, [op])] == ["a_idx", "b_idx"]


def test_allows_drop_index_concurrently_in_run_sql():
    op = migrations.RunSQL("DROP INDEX CONCURRENTLY IF EXISTS invoice_status_idx",
                           migrations.RunSQL.noop)

    assert_allows(RULE, [op], atomic=False)


def test_allows_drop_index_of_table_created_in_same_migration():
    op = migrations.RunSQL("DROP INDEX ledger_idx;", migrations.RunSQL.noop)
    create = migrations.CreateModel("Ledger", [("id", models.BigAutoField(primary_key=True))],
                                    options={"indexes": [models.Index(fields=["id"], name="ledger_idx")]})

    assert_allows(RULE, [create, op])


def test_ignores_other_drop_statements():
    op = migrations.RunSQL("DROP TABLE IF EXISTS legacy", migrations.RunSQL.noop)

    assert_allows(RULE, [op])


def test_ignore_comment_suppresses():
    source = migration_source([ADD_INDEX, REMOVE_INDEX]).replace(
        "        migrations.RemoveIndex(",
        f"        # pilot: ignore {RULE} -- invoice has 300 rows\n        migrations.RemoveIndex(",
    )

    assert_allows(RULE, source=source)


def number_indexes(connection):
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, "testapp_invoice")
    return sorted(name for name, info in constraints.items()
                  if info["index"] and info["columns"] == ["number"])


def test_field_index_alternative_drops_djangos_indexes_on_postgresql(postgresql_server, tmp_path):
    (diagnostic,) = lint_after_index([UNINDEXED])
    package = write_package({
        "0002_index": migration_source([ADD_INDEX, INDEXED], name="0002_index"),
        "0003_change": diagnostic.safe_alternative or "",
    })

    with (scratch_connection("postgresql", postgresql_server, tmp_path) as connection,
          override_settings(MIGRATION_MODULES={"testapp": package})):
        MigrationExecutor(connection).migrate([("testapp", "0002_index")])
        before = number_indexes(connection)
        MigrationExecutor(connection).migrate([("testapp", "0003_change")])
        after = number_indexes(connection)
        MigrationExecutor(connection).migrate([("testapp", "0002_index")])
        restored = number_indexes(connection)

    assert len(before) == 2
    assert after == []
    assert restored == before


RENAMED = migration_source([migrations.RenameModel("Invoice", "Bill")], name="0002_rename")
FK_TO_CHAR = migrations.AlterField("bill", "order", models.CharField(max_length=20, null=True))


def _fk_to_char_files():
    original = migration_source([FK_TO_CHAR], name="0003_change").replace(
        "'0001_initial'", "'0002_rename'")
    (diagnostic,) = [d for d in lint_files({"0002_rename": RENAMED, "0003_change": original})
                     if d.rule == RULE and d.migration == "0003_change"]
    first, second = (diagnostic.safe_alternative or "").split("# --- next migration ---\n")
    (rest,) = re.findall(r"# Save as (\S+)\.py", second)
    return original, {"0003_change": first, rest: second}


def test_foreign_key_to_char_field_fix_keeps_the_type_change_and_is_not_flagged():
    _, fixed = _fk_to_char_files()

    found = [d.rule for d in lint_files({"0002_rename": RENAMED, **fixed})
             if d.migration in fixed and d.rule == RULE]

    assert "models.CharField(max_length=20, null=True)" in fixed["0003_change_rest"]
    assert found == []


def test_foreign_key_to_char_field_fix_gives_the_original_schema_on_postgresql(postgresql_server,
                                                                                 tmp_path):
    """After a RenameModel the indexes keep the old table's name; the fix must still find them."""
    from tests.lint.schema import pg_schema

    original, fixed = _fk_to_char_files()
    schemas = {}
    for label, files in (("original", {"0003_change": original}), ("fixed", fixed)):
        package = write_package({"0002_rename": RENAMED, **files})
        with (scratch_connection("postgresql", postgresql_server, tmp_path / label) as connection,
              override_settings(MIGRATION_MODULES={"testapp": package})):
            MigrationExecutor(connection).migrate([("testapp", list(files)[-1])])
            forwards = pg_schema(connection)
            MigrationExecutor(connection).migrate([("testapp", "0002_rename")])
            schemas[label] = (forwards, pg_schema(connection))

    assert schemas["fixed"] == schemas["original"]
    assert not [row for row in schemas["fixed"][0]["indexes"]
                if row[0] == "testapp_bill" and "order" in row[2].rpartition("(")[2]]
