from django.db import migrations

from tests.lint.helpers import assert_allows, assert_flags, lint_one

RULE = "run-sql-irreversible"
UPDATE = "UPDATE testapp_order SET status = 'pending' WHERE status = 'new'"


def test_flags_run_sql_without_reverse():
    assert_flags(RULE, [migrations.RunSQL(UPDATE)])


def test_allows_noop_reverse():
    assert_allows(RULE, [migrations.RunSQL(UPDATE, migrations.RunSQL.noop)])


def test_allows_reverse_sql():
    reverse = "UPDATE testapp_order SET status = 'new' WHERE status = 'pending'"

    assert_allows(RULE, [migrations.RunSQL(UPDATE, reverse_sql=reverse)])


def test_allows_run_python():
    assert_allows(RULE, [migrations.RunPython(migrations.RunPython.noop, migrations.RunPython.noop)])


def test_flags_on_every_vendor():
    for vendor in ("postgresql", "mysql", "sqlite"):
        assert_flags(RULE, [migrations.RunSQL(UPDATE)], vendor=vendor)


def test_message():
    (diagnostic,) = lint_one(RULE, [migrations.RunSQL(UPDATE)])

    assert diagnostic.message == (
        "RunSQL \"UPDATE testapp_order SET status = 'pending' WHERE status = 'new'\" in"
        " testapp.0002_change has no reverse_sql, so the migration cannot be unapplied and a"
        " rollback stops there."
    )
    assert diagnostic.hint == (
        "Add reverse_sql: SQL that undoes the change, or migrations.RunSQL.noop when nothing"
        " needs undoing."
    )
    assert diagnostic.lock is None


def test_long_sql_is_shortened_in_the_message():
    sql = "UPDATE testapp_order SET note = 'a very long note that goes on and on and on' WHERE id > 10"

    (diagnostic,) = lint_one(RULE, [migrations.RunSQL(sql)])

    assert "RunSQL \"UPDATE testapp_order SET note = 'a very long note that goes on and on and on'...\" in" in (
        diagnostic.message)


def test_data_sql_gets_a_noop_reverse_with_a_comment():
    (diagnostic,) = lint_one(RULE, [migrations.RunSQL(UPDATE)])

    assert "reverse_sql=migrations.RunSQL.noop" in diagnostic.safe_alternative
    assert "# Replace the noop with SQL that undoes the change" in diagnostic.safe_alternative


def test_ddl_gets_a_written_reverse():
    sql = ["CREATE TABLE testapp_audit (id integer PRIMARY KEY, note text)",
           "CREATE INDEX audit_note_idx ON testapp_audit (note)",
           "ALTER TABLE testapp_order ADD COLUMN source varchar(20), ADD COLUMN channel text"]

    (diagnostic,) = lint_one(RULE, [migrations.RunSQL(sql)])

    assert "reverse_sql=['ALTER TABLE testapp_order DROP COLUMN channel'," in diagnostic.safe_alternative
    assert ("'ALTER TABLE testapp_order DROP COLUMN source', 'DROP INDEX IF EXISTS audit_note_idx',"
            " 'DROP TABLE IF EXISTS testapp_audit']") in diagnostic.safe_alternative
    assert "# Replace the noop" not in diagnostic.safe_alternative


def test_mysql_reverse_drops_the_index_on_its_table():
    sql = "CREATE INDEX audit_note_idx ON testapp_invoice (number)"

    (diagnostic,) = lint_one(RULE, [migrations.RunSQL(sql)], vendor="mysql")

    assert "reverse_sql='DROP INDEX audit_note_idx ON testapp_invoice'" in diagnostic.safe_alternative


def test_concurrent_index_reverse_is_concurrent_and_keeps_atomic_false():
    sql = "CREATE INDEX CONCURRENTLY invoice_number_idx ON testapp_invoice (number)"

    (diagnostic,) = lint_one(RULE, [migrations.RunSQL(sql)], atomic=False)

    assert "reverse_sql='DROP INDEX CONCURRENTLY IF EXISTS invoice_number_idx'" in (
        diagnostic.safe_alternative)
    assert "atomic = False" in diagnostic.safe_alternative


def test_safe_alternative_keeps_state_operations_and_is_not_flagged():
    from django.db import models

    op = migrations.RunSQL(
        "ALTER TABLE testapp_order ADD COLUMN source varchar(20) NULL",
        state_operations=[migrations.AddField("order", "source",
                                              models.CharField(max_length=20, null=True))],
    )

    (diagnostic,) = lint_one(RULE, [op])

    assert "state_operations=[migrations.AddField(" in diagnostic.safe_alternative
    assert_allows(RULE, source=diagnostic.safe_alternative)
