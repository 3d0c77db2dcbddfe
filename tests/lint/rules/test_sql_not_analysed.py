from django.db import migrations

from tests.lint.helpers import assert_allows, assert_flags, lint_one, migration_source

BROKEN = migrations.RunSQL("ALTER TABLE testapp_invoice ADD COLUMN", migrations.RunSQL.noop)
DO_BLOCK = migrations.RunSQL("DO $$ BEGIN PERFORM 1; END $$;", migrations.RunSQL.noop)


def test_flags_sql_that_does_not_parse():
    assert_flags("sql-not-analysed", [BROKEN])


def test_flags_do_block():
    assert_flags("sql-not-analysed", [DO_BLOCK])


def test_allows_plain_statements():
    op = migrations.RunSQL("CREATE TABLE audit (id bigint); SELECT 1;", "DROP TABLE audit")

    assert_allows("sql-not-analysed", [op])


def test_allows_placeholders():
    op = migrations.RunSQL([("UPDATE testapp_invoice SET status = %s WHERE id = %s", ["x", 1])],
                           migrations.RunSQL.noop)

    assert_allows("sql-not-analysed", [op])


def test_flags_on_every_database():
    for vendor in ("postgresql", "mysql", "sqlite"):
        assert_flags("sql-not-analysed", [BROKEN], vendor=vendor)


def test_message():
    (diagnostic,) = lint_one("sql-not-analysed", [BROKEN])

    assert diagnostic.message.startswith("RunSQL could not be parsed as PostgreSQL (syntax error at end")
    assert diagnostic.message.endswith("so migration_pilot cannot tell what it locks or changes.")


def test_ignore_comment_suppresses():
    source = migration_source([BROKEN]).replace(
        "        migrations.RunSQL(",
        "        # pilot: ignore sql-not-analysed -- MySQL-only, reviewed\n        migrations.RunSQL(",
    )

    assert_allows("sql-not-analysed", source=source)


def test_one_finding_when_one_operation_says_the_same_twice():
    twice = migrations.SeparateDatabaseAndState(database_operations=[BROKEN, BROKEN])

    assert len(lint_one("sql-not-analysed", [twice])) == 1
