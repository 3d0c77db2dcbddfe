import pytest
from django.contrib.postgres.operations import AddIndexConcurrently, RemoveIndexConcurrently
from django.db import migrations, models
from django.db.migrations.executor import MigrationExecutor
from django.db.utils import DatabaseError
from django.test import override_settings

from tests.databases import scratch_connection
from tests.lint.helpers import assert_allows, assert_flags, lint_files, lint_one, migration_source, write_package

RULE = "concurrent-in-atomic"
INDEX = models.Index(fields=["status"], name="invoice_status_idx")
ADD_CONCURRENTLY = AddIndexConcurrently("invoice", INDEX)


def run_sql(sql):
    return migrations.RunSQL(sql, migrations.RunSQL.noop)


def test_flags_add_index_concurrently_in_atomic_migration():
    assert_flags(RULE, [ADD_CONCURRENTLY])


def test_message():
    (diagnostic,) = lint_one(RULE, [ADD_CONCURRENTLY])

    assert diagnostic.message == (
        "AddIndexConcurrently of index invoice_status_idx on testapp_invoice cannot run inside a"
        " transaction, but this migration is atomic, so migrate fails."
    )
    assert diagnostic.hint == (
        "Set atomic = False on the migration, and keep the concurrent operation in a migration of its own."
    )
    assert diagnostic.lock is None


def test_safe_alternative_is_the_operation_in_a_non_atomic_migration():
    (diagnostic,) = lint_one(RULE, [ADD_CONCURRENTLY])

    assert diagnostic.safe_alternative == (
        "from django.contrib.postgres.operations import AddIndexConcurrently\n"
        "from django.db import migrations, models\n"
        "\n"
        "\n"
        "class Migration(migrations.Migration):\n"
        "    atomic = False\n"
        "    dependencies = [('testapp', '0001_initial')]\n"
        "    operations = [\n"
        "        AddIndexConcurrently(\n"
        "            model_name='invoice',\n"
        "            index=models.Index(fields=['status'], name='invoice_status_idx'),\n"
        "        ),\n"
        "    ]\n"
    )
    assert lint_one(RULE, source=diagnostic.safe_alternative) == []


def test_flags_remove_index_concurrently_in_atomic_migration():
    add = migrations.AddIndex("invoice", INDEX)

    (diagnostic,) = lint_one(RULE, [add, RemoveIndexConcurrently("invoice", "invoice_status_idx")])

    assert diagnostic.message.startswith("RemoveIndexConcurrently of index invoice_status_idx on testapp_invoice")
    assert ("        RemoveIndexConcurrently(\n"
            "            model_name='invoice',\n"
            "            name='invoice_status_idx',\n"
            "        ),\n") in (diagnostic.safe_alternative or "")


def test_flags_inside_separate_database_and_state():
    op = migrations.SeparateDatabaseAndState(database_operations=[ADD_CONCURRENTLY])

    assert_flags(RULE, [op])


def test_allows_non_atomic_migration():
    assert_allows(RULE, [ADD_CONCURRENTLY], atomic=False)


def test_allows_plain_index_operations():
    assert_allows(RULE, [migrations.AddIndex("invoice", INDEX)])


def test_allows_on_mysql_and_sqlite():
    assert_allows(RULE, [ADD_CONCURRENTLY], vendor="mysql")
    assert_allows(RULE, [ADD_CONCURRENTLY], vendor="sqlite")


@pytest.mark.parametrize(("sql", "what"), [
    ("CREATE INDEX CONCURRENTLY inv_num ON testapp_invoice (number)", "CREATE INDEX CONCURRENTLY inv_num"),
    ("CREATE UNIQUE INDEX CONCURRENTLY inv_num ON testapp_invoice (number)",
     "CREATE UNIQUE INDEX CONCURRENTLY inv_num"),
    ("DROP INDEX CONCURRENTLY IF EXISTS inv_num", "DROP INDEX CONCURRENTLY inv_num"),
    ("REINDEX TABLE CONCURRENTLY testapp_invoice", "REINDEX CONCURRENTLY testapp_invoice"),
    ("REINDEX (CONCURRENTLY) SCHEMA public", "REINDEX CONCURRENTLY public"),
    ("ALTER TABLE measurements DETACH PARTITION measurements_2020 CONCURRENTLY",
     "DETACH PARTITION measurements_2020 CONCURRENTLY from measurements"),
])
def test_flags_concurrent_sql_in_atomic_migration(sql, what):
    (diagnostic,) = lint_one(RULE, [run_sql(sql)])

    assert diagnostic.message == (
        f"{what} cannot run inside a transaction block, but this migration is atomic, so migrate fails."
    )
    assert "atomic = False" in (diagnostic.safe_alternative or "")


def test_sql_alternative_is_not_flagged():
    op = migrations.RunSQL("CREATE INDEX CONCURRENTLY inv_num ON testapp_invoice (number)",
                           "DROP INDEX CONCURRENTLY inv_num")
    (diagnostic,) = lint_one(RULE, [op])

    findings = lint_files({"0002_change": diagnostic.safe_alternative or ""})

    assert [d for d in findings if d.rule == RULE] == []


@pytest.mark.parametrize("sql", [
    "CREATE INDEX CONCURRENTLY inv_num ON testapp_invoice (number)",
    "DROP INDEX CONCURRENTLY inv_num",
    "REINDEX INDEX CONCURRENTLY inv_num",
    "ALTER TABLE measurements DETACH PARTITION measurements_2020 CONCURRENTLY",
])
def test_allows_concurrent_sql_in_non_atomic_migration(sql):
    assert_allows(RULE, [run_sql(sql)], atomic=False)


@pytest.mark.parametrize("sql", [
    "CREATE INDEX inv_num ON testapp_invoice (number)",
    "DROP INDEX inv_num",
    "REINDEX (CONCURRENTLY false) INDEX inv_num",
    "ALTER TABLE measurements DETACH PARTITION measurements_2020",
])
def test_allows_non_concurrent_sql(sql):
    assert_allows(RULE, [run_sql(sql)])


def test_ignore_comment_suppresses():
    source = migration_source([ADD_CONCURRENTLY]).replace(
        "        django.contrib.postgres.operations.AddIndexConcurrently(",
        f"        # pilot: ignore {RULE} -- the deploy tool runs this file outside a transaction\n"
        "        django.contrib.postgres.operations.AddIndexConcurrently(",
    )

    assert_allows(RULE, source=source)


@pytest.mark.parametrize("sql", [
    "CREATE INDEX CONCURRENTLY inv_num ON testapp_invoice (number)",
    "REINDEX TABLE CONCURRENTLY testapp_invoice",
])
def test_concurrent_run_sql_in_atomic_migration_fails_on_postgresql(postgresql_server, tmp_path, sql):
    assert lint_one(RULE, [run_sql(sql)])
    atomic = write_package({"0002_change": migration_source([run_sql(sql)])})
    non_atomic = write_package({"0002_change": migration_source([run_sql(sql)], atomic=False)})

    with scratch_connection("postgresql", postgresql_server, tmp_path) as connection:
        with override_settings(MIGRATION_MODULES={"testapp": atomic}):
            executor = MigrationExecutor(connection)
            with pytest.raises(DatabaseError, match="cannot run inside a transaction block"):
                executor.migrate([("testapp", "0002_change")])
        with override_settings(MIGRATION_MODULES={"testapp": non_atomic}):
            MigrationExecutor(connection).migrate([("testapp", "0002_change")])
            applied = MigrationExecutor(connection).loader.applied_migrations

    assert ("testapp", "0002_change") in applied


def test_flags_concurrent_statement_sharing_a_string_in_a_non_atomic_migration():
    op = migrations.RunSQL("CREATE INDEX CONCURRENTLY inv_num ON testapp_invoice (number); SELECT 1;",
                           migrations.RunSQL.noop)

    diagnostic = assert_flags("concurrent-in-atomic", [op], atomic=False)

    assert diagnostic.message == (
        "CREATE INDEX CONCURRENTLY inv_num cannot run inside a transaction block, but it shares one SQL"
        " string with 1 other statement(s), which PostgreSQL runs as one implicit transaction, so migrate fails.")


def test_allows_concurrent_statement_in_its_own_list_item_in_a_non_atomic_migration():
    op = migrations.RunSQL(["CREATE INDEX CONCURRENTLY inv_num ON testapp_invoice (number)", "SELECT 1"],
                           migrations.RunSQL.noop)

    assert_allows("concurrent-in-atomic", [op], atomic=False)


def test_shared_string_fails_on_postgresql_even_without_atomic(postgresql_server, tmp_path):
    shared = run_sql("CREATE INDEX CONCURRENTLY inv_num ON testapp_invoice (number); SELECT 1;")
    split = run_sql(["CREATE INDEX CONCURRENTLY inv_num ON testapp_invoice (number)", "SELECT 1"])
    assert lint_one(RULE, [shared], atomic=False)
    failing = write_package({"0002_change": migration_source([shared], atomic=False)})
    working = write_package({"0002_change": migration_source([split], atomic=False)})

    with scratch_connection("postgresql", postgresql_server, tmp_path) as connection:
        with override_settings(MIGRATION_MODULES={"testapp": failing}):
            executor = MigrationExecutor(connection)
            with pytest.raises(DatabaseError, match="cannot run inside a transaction block"):
                executor.migrate([("testapp", "0002_change")])
        with override_settings(MIGRATION_MODULES={"testapp": working}):
            MigrationExecutor(connection).migrate([("testapp", "0002_change")])
            applied = MigrationExecutor(connection).loader.applied_migrations

    assert ("testapp", "0002_change") in applied


def test_flags_this_packages_online_operations_in_an_atomic_migration():
    from migration_pilot.operations import AddIndexOnline

    (diagnostic,) = lint_one(RULE, [AddIndexOnline("invoice", INDEX)])

    assert diagnostic.message == (
        "AddIndexOnline on testapp_invoice runs its steps outside a transaction (concurrent builds, VALIDATE,"
        " committed batches), but this migration is atomic, so it refuses to run.")
    assert diagnostic.hint == "Set atomic = False on the migration."


def test_allows_online_operations_in_a_non_atomic_migration_and_knows_them():
    from migration_pilot.operations import AddIndexOnline

    operations = [AddIndexOnline("invoice", INDEX)]

    assert_allows(RULE, operations, atomic=False)
    assert_allows("unknown-operation", operations, atomic=False)
