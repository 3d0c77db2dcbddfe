import pytest
from django.db import migrations, models
from django.db.migrations.executor import MigrationExecutor
from django.test import override_settings

from migration_pilot.conf import Config
from tests.databases import scratch_connection
from tests.lint.helpers import assert_allows, assert_flags, lint_files, lint_one, migration_source, write_package

RULE = "reindex-non-concurrent"


def run_sql(sql):
    return migrations.RunSQL(sql, migrations.RunSQL.noop)


REINDEX_TABLE = run_sql("REINDEX TABLE testapp_invoice;")


def test_flags_reindex_table():
    assert_flags(RULE, [REINDEX_TABLE])


def test_message():
    (diagnostic,) = lint_one(RULE, [REINDEX_TABLE])

    assert diagnostic.message == (
        "Rebuilding the indexes of testapp_invoice with REINDEX blocks writes on testapp_invoice,"
        " and reads that use its indexes, until the rebuild ends."
    )
    assert diagnostic.hint == "Use REINDEX ... CONCURRENTLY in a migration with atomic = False."
    assert diagnostic.lock is not None
    assert diagnostic.lock.describe() == "SHARE lock on testapp_invoice (blocks writes; scans the table)"


def test_safe_alternative_is_the_concurrent_statement_in_a_non_atomic_migration():
    (diagnostic,) = lint_one(RULE, [REINDEX_TABLE])

    assert diagnostic.safe_alternative == (
        "from django.db import migrations\n"
        "\n"
        "\n"
        "class Migration(migrations.Migration):\n"
        "    atomic = False\n"
        "    dependencies = [('testapp', '0001_initial')]\n"
        "    operations = [\n"
        "        migrations.RunSQL('REINDEX TABLE CONCURRENTLY testapp_invoice', migrations.RunSQL.noop),\n"
        "    ]\n"
    )


def test_safe_alternative_is_not_flagged():
    (diagnostic,) = lint_one(RULE, [REINDEX_TABLE])

    findings = lint_files({"0002_change": diagnostic.safe_alternative or ""})

    assert [d.message for d in findings if d.rule in {RULE, "concurrent-in-atomic"}] == []


def test_flags_reindex_index_and_finds_its_table():
    add = migrations.AddIndex("invoice", models.Index(fields=["status"], name="invoice_status_idx"))

    (diagnostic,) = lint_one(RULE, [add, run_sql("REINDEX (VERBOSE) INDEX invoice_status_idx")])

    assert diagnostic.message.startswith("Rebuilding index invoice_status_idx with REINDEX blocks"
                                         " writes on testapp_invoice,")
    assert diagnostic.lock is not None
    assert diagnostic.lock.table == "testapp_invoice"
    assert "'REINDEX (VERBOSE) INDEX CONCURRENTLY invoice_status_idx'" in (diagnostic.safe_alternative or "")


def test_reindex_of_unknown_index_names_no_table():
    (diagnostic,) = lint_one(RULE, [run_sql("REINDEX INDEX legacy_idx")])

    assert "blocks writes on its table," in diagnostic.message
    assert diagnostic.lock is None


@pytest.mark.parametrize(("sql", "what"), [
    ("REINDEX SCHEMA public", "every index in schema public"),
    ("REINDEX DATABASE pilot", "every index in the database"),
])
def test_flags_schema_and_database_reindex(sql, what):
    (diagnostic,) = lint_one(RULE, [run_sql(sql)])

    assert diagnostic.message.startswith(f"Rebuilding {what} with REINDEX blocks writes on each table")
    assert "CONCURRENTLY" in (diagnostic.safe_alternative or "")


def test_reindex_system_has_no_concurrent_alternative():
    (diagnostic,) = lint_one(RULE, [run_sql("REINDEX SYSTEM pilot")])

    assert diagnostic.hint.startswith("REINDEX SYSTEM has no concurrent form")
    assert diagnostic.safe_alternative is None


@pytest.mark.parametrize("sql", [
    "REINDEX TABLE CONCURRENTLY testapp_invoice",
    "REINDEX (CONCURRENTLY) TABLE testapp_invoice",
    "REINDEX (CONCURRENTLY true, VERBOSE) INDEX invoice_status_idx",
    "REINDEX (CONCURRENTLY 1) SCHEMA public",
])
def test_allows_concurrent_reindex_in_non_atomic_migration(sql):
    assert_allows(RULE, [run_sql(sql)], atomic=False)


@pytest.mark.parametrize("sql", [
    "REINDEX (CONCURRENTLY false) TABLE testapp_invoice",
    "REINDEX (CONCURRENTLY off) TABLE testapp_invoice",
    "REINDEX (CONCURRENTLY 0) TABLE testapp_invoice",
])
def test_flags_concurrently_switched_off(sql):
    assert_flags(RULE, [run_sql(sql)], atomic=False)


def test_allows_table_created_in_same_migration():
    create = run_sql("CREATE TABLE ledger (id int PRIMARY KEY); REINDEX TABLE ledger;")

    assert_allows(RULE, [create])


def test_before_postgresql_12_points_to_the_manual_rebuild():
    (diagnostic,) = lint_one(RULE, [REINDEX_TABLE], config=Config(pg_version=11))

    assert diagnostic.hint.startswith("PostgreSQL 11 has no REINDEX CONCURRENTLY (added in 12)")
    assert diagnostic.safe_alternative is None


def test_flags_reindex_concurrently_before_postgresql_12():
    op = run_sql("REINDEX TABLE CONCURRENTLY testapp_invoice")

    (diagnostic,) = lint_one(RULE, [op], atomic=False, config=Config(pg_version=11))

    assert diagnostic.message == (
        "REINDEX CONCURRENTLY needs PostgreSQL 12; the target is PostgreSQL 11, where rebuilding"
        " the indexes of testapp_invoice fails."
    )
    assert diagnostic.lock is None


def test_allows_on_mysql_and_sqlite():
    assert_allows(RULE, [REINDEX_TABLE], vendor="mysql")
    assert_allows(RULE, [REINDEX_TABLE], vendor="sqlite")


def test_ignore_comment_suppresses():
    source = migration_source([REINDEX_TABLE]).replace(
        "        migrations.RunSQL(",
        f"        # pilot: ignore {RULE} -- run in the maintenance window\n        migrations.RunSQL(",
    )

    assert_allows(RULE, source=source)


def test_postgresql_takes_the_claimed_share_lock(postgresql_server, tmp_path):
    (diagnostic,) = lint_one(RULE, [REINDEX_TABLE])
    assert diagnostic.lock is not None
    package = write_package({})

    with (scratch_connection("postgresql", postgresql_server, tmp_path) as connection,
          override_settings(MIGRATION_MODULES={"testapp": package})):
        MigrationExecutor(connection).migrate([("testapp", "0001_initial")])
        with connection.cursor() as cursor:
            cursor.execute("BEGIN")
            cursor.execute("REINDEX TABLE testapp_invoice")
            cursor.execute(
                "SELECT l.mode FROM pg_locks l JOIN pg_class c ON c.oid = l.relation"
                " WHERE l.pid = pg_backend_pid() AND c.relname = 'testapp_invoice'")
            modes = {row[0] for row in cursor.fetchall()}
            cursor.execute("ROLLBACK")

    assert diagnostic.lock.mode.value == "SHARE"
    assert modes == {"ShareLock"}
