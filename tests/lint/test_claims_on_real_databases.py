"""What lint claims, checked against real servers.

The linter never connects to a database; these tests prove its claims by
running the same operations through Django's schema editor on PostgreSQL,
MariaDB and SQLite and observing what happens: the lock PostgreSQL really
takes (pg_locks), the statement that really fails, the INSERT from old code
that really breaks.
"""

from __future__ import annotations

import pytest
from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import NotSupportedError, migrations, models
from django.db.migrations.executor import MigrationExecutor
from django.db.utils import DatabaseError, IntegrityError, OperationalError
from django.test import override_settings

from tests.databases import scratch_connection
from tests.lint.helpers import lint_operations, write_package

PG_LOCK_NAMES = {
    "AccessShareLock": "ACCESS SHARE", "RowShareLock": "ROW SHARE", "RowExclusiveLock": "ROW EXCLUSIVE",
    "ShareUpdateExclusiveLock": "SHARE UPDATE EXCLUSIVE", "ShareLock": "SHARE",
    "ShareRowExclusiveLock": "SHARE ROW EXCLUSIVE", "ExclusiveLock": "EXCLUSIVE",
    "AccessExclusiveLock": "ACCESS EXCLUSIVE",
}
PG_LOCK_ORDER = list(PG_LOCK_NAMES.values())


class Rollback(Exception):
    pass


def migrated_to_initial(connection, package):
    """Apply testapp.0001_initial to `connection`; return the executor."""
    executor = MigrationExecutor(connection)
    executor.migrate([("testapp", "0001_initial")])
    return executor


def strongest_lock_held(connection, table):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT l.mode FROM pg_locks l JOIN pg_class c ON c.oid = l.relation"
            " WHERE l.pid = pg_backend_pid() AND l.locktype = 'relation' AND c.relname = %s",
            [table],
        )
        modes = [PG_LOCK_NAMES[row[0]] for row in cursor.fetchall()]
    return max(modes, key=PG_LOCK_ORDER.index) if modes else None


def observe_locks(connection, operations, tables):
    """Run `operations` in one transaction, read the locks held, roll back."""
    package = write_package({})
    with override_settings(MIGRATION_MODULES={"testapp": package}):
        executor = migrated_to_initial(connection, package)
        state = executor.loader.project_state(("testapp", "0001_initial"))
        observed = {}
        try:
            with connection.schema_editor(atomic=True) as editor:
                for operation in operations:
                    new_state = state.clone()
                    operation.state_forwards("testapp", new_state)
                    operation.database_forwards("testapp", editor, state, new_state)
                    state = new_state
                for statement in editor.deferred_sql:
                    editor.execute(statement)
                editor.deferred_sql.clear()
                observed = {table: strongest_lock_held(connection, table) for table in tables}
                raise Rollback
        except Rollback:
            pass
    return observed


LOCK_CASES = [
    ("add-index-non-concurrent",
     [migrations.AddIndex("invoice", models.Index(fields=["status"], name="invoice_status_idx"))]),
    ("drop-index-non-concurrent",
     [migrations.AddIndex("invoice", models.Index(fields=["status"], name="invoice_status_idx")),
      migrations.RemoveIndex("invoice", "invoice_status_idx")]),
    ("add-unique-non-concurrent",
     [migrations.AddConstraint("invoice", models.UniqueConstraint(fields=["number"], name="invoice_number_uniq"))]),
    ("add-check-constraint-validating",
     [migrations.AddConstraint("invoice", models.CheckConstraint(condition=models.Q(amount__gte=0),
                                                                 name="invoice_amount_gte_0"))]),
    ("set-not-null",
     [migrations.AlterField("invoice", "status", models.CharField(max_length=20, default="new"))]),
    ("alter-column-type",
     [migrations.AlterField("invoice", "number", models.IntegerField())]),
    ("add-foreign-key-validating",
     [migrations.AddField("invoice", "customer",
                          models.ForeignKey("testapp.customer", null=True, db_index=False,
                                            on_delete=models.CASCADE))]),
    ("drop-column", [migrations.RemoveField("order", "note")]),
    ("rename-column", [migrations.RenameField("order", "note", "remark")]),
]


@pytest.mark.parametrize(("rule_id", "operations"), LOCK_CASES, ids=[c[0] for c in LOCK_CASES])
def test_postgresql_takes_the_lock_lint_names(postgresql_server, tmp_path, rule_id, operations):
    findings = [d for d in lint_operations(operations, vendor="postgresql") if d.rule == rule_id]
    assert findings, f"{rule_id} did not flag its own example"
    claimed = {d.lock.table: d.lock.mode.value for d in findings if d.lock is not None}
    assert claimed, f"{rule_id} names no lock"

    with scratch_connection("postgresql", postgresql_server, tmp_path) as connection:
        observed = observe_locks(connection, operations, list(claimed))

    for table, mode in claimed.items():
        assert observed[table] is not None, f"no lock observed on {table}"
        # The strongest lock held by the end of the transaction is at least the one claimed
        # for this statement (earlier statements in the same case may hold a stronger one).
        assert PG_LOCK_ORDER.index(observed[table]) >= PG_LOCK_ORDER.index(mode), (table, observed, mode)
        if len(operations) == 1:
            assert observed[table] == mode, (table, observed[table], mode)


def test_concurrent_index_in_atomic_migration_fails_on_postgresql(postgresql_server, tmp_path):
    operation = AddIndexConcurrently("invoice", models.Index(fields=["status"], name="invoice_status_idx"))
    assert any(d.rule == "concurrent-in-atomic" for d in lint_operations([operation], atomic=True))

    with scratch_connection("postgresql", postgresql_server, tmp_path) as connection:
        package = write_package({})
        with override_settings(MIGRATION_MODULES={"testapp": package}):
            executor = migrated_to_initial(connection, package)
            state = executor.loader.project_state(("testapp", "0001_initial"))
            new_state = state.clone()
            operation.state_forwards("testapp", new_state)
            with (pytest.raises(NotSupportedError, match="cannot be executed inside a transaction"),
                  connection.schema_editor(atomic=True) as editor):
                operation.database_forwards("testapp", editor, state, new_state)
            with connection.schema_editor(atomic=False) as editor:
                operation.database_forwards("testapp", editor, state, new_state)
            assert "invoice_status_idx" in connection.introspection.get_constraints(
                connection.cursor(), "testapp_invoice")


@pytest.mark.parametrize("vendor", ["postgresql", "mysql", "sqlite"])
def test_not_null_field_without_db_default_breaks_old_inserts(vendor, request, tmp_path, scratch_db_access):
    server = None if vendor == "sqlite" else request.getfixturevalue(f"{vendor}_server")
    unsafe = migrations.AddField("customer", "tier", models.CharField(max_length=10, default="basic"))
    safe = migrations.AddField("customer", "rank", models.CharField(max_length=10, default="basic",
                                                                     db_default="basic"))
    assert any(d.rule == "add-field-not-null" for d in lint_operations([unsafe], vendor=vendor))
    assert not any(d.rule == "add-field-not-null" for d in lint_operations([safe], vendor=vendor))

    with scratch_connection(vendor, server, tmp_path) as connection:
        package = write_package({})
        with override_settings(MIGRATION_MODULES={"testapp": package}):
            executor = migrated_to_initial(connection, package)
            state = executor.loader.project_state(("testapp", "0001_initial"))
            with connection.schema_editor() as editor:
                for operation in (unsafe, safe):
                    new_state = state.clone()
                    operation.state_forwards("testapp", new_state)
                    operation.database_forwards("testapp", editor, state, new_state)
                    state = new_state
        table = connection.ops.quote_name("testapp_customer")
        old_code_insert = f"INSERT INTO {table} (name, email) VALUES ('a', 'a@example.com')"
        with pytest.raises((IntegrityError, OperationalError, DatabaseError)), connection.cursor() as cursor:
            cursor.execute(old_code_insert)


def test_mariadb_keeps_the_first_ddl_of_a_failing_migration(mysql_server, tmp_path):
    add = migrations.AddField("customer", "nickname", models.CharField(max_length=10, null=True))
    failing = migrations.RunSQL("ALTER TABLE testapp_customer ADD COLUMN nickname varchar(5)")
    assert any(d.rule == "non-transactional-multi-ddl" for d in lint_operations([add, failing], vendor="mysql"))
    assert not any(d.rule == "non-transactional-multi-ddl"
                   for d in lint_operations([add, failing], vendor="postgresql"))

    with scratch_connection("mysql", mysql_server, tmp_path) as connection:
        package = write_package({})
        with override_settings(MIGRATION_MODULES={"testapp": package}):
            executor = migrated_to_initial(connection, package)
            state = executor.loader.project_state(("testapp", "0001_initial"))
            with pytest.raises(DatabaseError), connection.schema_editor(atomic=True) as editor:
                for operation in (add, failing):
                    new_state = state.clone()
                    operation.state_forwards("testapp", new_state)
                    operation.database_forwards("testapp", editor, state, new_state)
                    state = new_state
            columns = [c.name for c in connection.introspection.get_table_description(
                connection.cursor(), "testapp_customer")]
    # The migration failed, yet its first schema change stayed: no transactional DDL on MariaDB.
    assert "nickname" in columns
