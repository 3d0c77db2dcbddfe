import re

import pytest
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

RULE = "add-foreign-key-validating"
ADD_FK = migrations.AddField(
    "invoice", "customer",
    models.ForeignKey("testapp.customer", null=True, db_index=False, on_delete=models.CASCADE),
)


def test_flags_foreign_key_field_on_existing_table():
    assert_flags(RULE, [ADD_FK])


def test_message():
    (diagnostic,) = lint_one(RULE, [ADD_FK])

    assert diagnostic.message == (
        "Adding foreign key customer_id to testapp_invoice holds ACCESS EXCLUSIVE on"
        " testapp_invoice and SHARE ROW EXCLUSIVE on testapp_customer (blocking writes to"
        " testapp_customer) until the migration commits."
    )
    assert diagnostic.hint == (
        "Add the constraint NOT VALID (SeparateDatabaseAndState with RunSQL), then VALIDATE"
        " CONSTRAINT in a later migration."
    )
    assert diagnostic.lock is not None
    assert diagnostic.lock.describe() == (
        "ACCESS EXCLUSIVE lock on testapp_invoice (blocks reads and writes)"
    )


def test_message_names_the_index_build_held_under_the_locks():
    field = models.ForeignKey("testapp.customer", null=True, on_delete=models.CASCADE)

    (diagnostic,) = lint_one(RULE, [migrations.AddField("invoice", "customer", field)])

    assert diagnostic.message.endswith("until the migration commits, including its index build.")


def test_flags_validation_scan_when_the_column_gets_a_default():
    field = models.ForeignKey("testapp.customer", default=1, on_delete=models.CASCADE)

    (diagnostic,) = lint_one(RULE, [migrations.AddField("invoice", "customer", field)])

    assert diagnostic.message == (
        "Adding foreign key customer_id to testapp_invoice checks every row of testapp_invoice"
        " against testapp_customer while holding ACCESS EXCLUSIVE on testapp_invoice and SHARE"
        " ROW EXCLUSIVE on testapp_customer."
    )
    assert diagnostic.lock is not None
    assert diagnostic.lock.describe() == (
        "ACCESS EXCLUSIVE lock on testapp_invoice (blocks reads and writes; scans the table)"
    )


def test_allows_field_without_database_constraint():
    field = models.ForeignKey("testapp.customer", null=True, db_constraint=False,
                              on_delete=models.CASCADE)

    assert_allows(RULE, [migrations.AddField("invoice", "customer", field)])


def test_allows_table_created_in_same_migration():
    create = migrations.CreateModel("Ledger", [("id", models.BigAutoField(primary_key=True))])
    field = models.ForeignKey("testapp.customer", null=True, on_delete=models.CASCADE)

    assert_allows(RULE, [create, migrations.AddField("ledger", "customer", field)])


def test_allows_nullable_column_referencing_a_table_created_in_same_migration():
    create = migrations.CreateModel("Region", [("id", models.BigAutoField(primary_key=True))])
    field = models.ForeignKey("testapp.region", null=True, db_index=False, on_delete=models.CASCADE)

    assert_allows(RULE, [create, migrations.AddField("invoice", "region", field)])


def test_allows_on_mysql_and_sqlite():
    assert_allows(RULE, [ADD_FK], vendor="mysql")
    assert_allows(RULE, [ADD_FK], vendor="sqlite")


def test_flags_alter_field_that_adds_the_constraint():
    plain = migrations.AddField("invoice", "customer", models.IntegerField(null=True))
    to_fk = migrations.AlterField(
        "invoice", "customer",
        models.ForeignKey("testapp.customer", null=True, db_index=False, on_delete=models.CASCADE,
                          db_column="customer"),
    )

    (diagnostic,) = lint_one(RULE, [plain, to_fk])

    assert diagnostic.message == (
        "Adding foreign key customer to testapp_invoice checks every row of testapp_invoice"
        " against testapp_customer while holding SHARE ROW EXCLUSIVE on testapp_invoice and"
        " testapp_customer."
    )
    assert diagnostic.lock is not None
    assert diagnostic.lock.describe() == (
        "SHARE ROW EXCLUSIVE lock on testapp_invoice (blocks writes; scans the table)"
    )


def test_flags_alter_field_that_turns_db_constraint_back_on():
    field = models.ForeignKey("testapp.customer", on_delete=models.CASCADE)
    off = migrations.AlterField("order", "customer",
                                models.ForeignKey("testapp.customer", db_constraint=False,
                                                  on_delete=models.CASCADE))

    assert_flags(RULE, [off, migrations.AlterField("order", "customer", field)])


def test_allows_alter_field_that_keeps_the_constraint():
    field = models.ForeignKey("testapp.customer", on_delete=models.PROTECT, related_name="orders")

    assert_allows(RULE, [migrations.AlterField("order", "customer", field)])


def test_flags_run_sql_add_foreign_key():
    op = migrations.RunSQL(
        "ALTER TABLE testapp_order ADD CONSTRAINT order_customer_fk FOREIGN KEY (customer_id)"
        " REFERENCES testapp_customer (id);",
        migrations.RunSQL.noop,
    )

    (diagnostic,) = lint_one(RULE, [op])

    assert diagnostic.message == (
        "Adding foreign key customer_id to testapp_order checks every row of testapp_order"
        " against testapp_customer while holding SHARE ROW EXCLUSIVE on testapp_order and"
        " testapp_customer."
    )
    assert diagnostic.hint == "Add it NOT VALID, then run VALIDATE CONSTRAINT in a later migration."


def test_flags_run_sql_add_column_references():
    op = migrations.RunSQL(
        "ALTER TABLE testapp_invoice ADD COLUMN customer_id bigint REFERENCES testapp_customer (id)",
        migrations.RunSQL.noop,
    )

    (diagnostic,) = lint_one(RULE, [op])

    assert diagnostic.lock is not None
    assert diagnostic.lock.describe() == (
        "ACCESS EXCLUSIVE lock on testapp_invoice (blocks reads and writes)"
    )


def test_allows_run_sql_not_valid():
    op = migrations.RunSQL(
        "ALTER TABLE testapp_order ADD CONSTRAINT order_customer_fk FOREIGN KEY (customer_id)"
        " REFERENCES testapp_customer (id) NOT VALID",
        migrations.RunSQL.noop,
    )

    assert_allows(RULE, [op])


FK_NAME = "testapp_invoice_customer_id_03081d62_fk_testapp_customer_id"


def test_safe_alternative_uses_the_users_names():
    (diagnostic,) = lint_one(RULE, [ADD_FK])
    code = diagnostic.safe_alternative or ""

    assert "migrations.SeparateDatabaseAndState(state_operations=[migrations.AddField('invoice'" in code
    assert "db_constraint=False" in code
    assert (f'ALTER TABLE "testapp_invoice" ADD CONSTRAINT "{FK_NAME}" FOREIGN'
            ' KEY ("customer_id") REFERENCES "testapp_customer" ("id") DEFERRABLE INITIALLY'
            ' DEFERRED NOT VALID') in code
    assert f'VALIDATE CONSTRAINT "{FK_NAME}"' in code
    assert "dependencies = [('testapp', '0002_change')]" in code


def _fixed_files(code, name="0002_change"):
    """{migration name: source}: the replacement, then each 'Save as' migration."""
    first, *later = code.split("# --- next migration ---\n")
    files = {name: first}
    for text in later:
        (saved,) = re.findall(r"# Save as (\S+)\.py", text)
        files[saved] = text
    return files


def test_safe_alternative_is_not_flagged():
    field = models.ForeignKey("testapp.customer", null=True, on_delete=models.CASCADE)
    (diagnostic,) = lint_one(RULE, [migrations.AddField("invoice", "customer", field)])
    files = _fixed_files(diagnostic.safe_alternative or "")

    found = lint_files(files)

    assert list(files) == ["0002_change", "0002_change_index", "0002_change_validate"]
    assert [(d.rule, d.message) for d in found if d.migration in files] == []
    assert "CREATE INDEX CONCURRENTLY" in files["0002_change_index"]
    assert "atomic = False" in files["0002_change_index"]


@pytest.mark.parametrize("field", [
    models.ForeignKey("testapp.customer", null=True, on_delete=models.CASCADE),
    models.ForeignKey("testapp.customer", null=True, db_index=False, on_delete=models.CASCADE),
    models.ForeignKey("testapp.customer", null=True, to_field="name", on_delete=models.CASCADE),
], ids=["indexed", "no-index", "to-varchar-field"])
def test_safe_alternative_gives_the_original_schema_on_postgresql(postgresql_server, tmp_path, field):
    from tests.lint.schema import pg_schema

    unique_name = migration_source([migrations.AlterField("customer", "name", models.CharField(
        max_length=100, unique=True))], name="0002_unique")
    original = migration_source([migrations.AddField("invoice", "customer", field)],
                                name="0003_change").replace("'0001_initial'", "'0002_unique'")
    (diagnostic,) = [d for d in lint_files({"0002_unique": unique_name, "0003_change": original})
                     if d.rule == RULE]
    fixed = _fixed_files(diagnostic.safe_alternative or "", "0003_change")
    schemas = {}
    for label, files in (("original", {"0003_change": original}), ("fixed", fixed)):
        package = write_package({"0002_unique": unique_name, **files})
        with (scratch_connection("postgresql", postgresql_server, tmp_path / label) as connection,
              override_settings(MIGRATION_MODULES={"testapp": package})):
            MigrationExecutor(connection).migrate([("testapp", list(files)[-1])])
            forwards = pg_schema(connection)
            MigrationExecutor(connection).migrate([("testapp", "0002_unique")])
            schemas[label] = (forwards, pg_schema(connection))

    assert schemas["fixed"] == schemas["original"]


def test_safe_alternative_applies_on_postgresql(postgresql_server, tmp_path):
    field = models.ForeignKey("testapp.customer", null=True, on_delete=models.CASCADE)
    (diagnostic,) = lint_one(RULE, [migrations.AddField("invoice", "customer", field)])
    files = _fixed_files(diagnostic.safe_alternative or "")
    package = write_package(files)

    with (scratch_connection("postgresql", postgresql_server, tmp_path) as connection,
          override_settings(MIGRATION_MODULES={"testapp": package})):
        MigrationExecutor(connection).migrate([("testapp", "0002_change")])
        with connection.cursor() as cursor:
            cursor.execute("SELECT convalidated FROM pg_constraint WHERE conname = %s", [FK_NAME])
            before = cursor.fetchone()
        MigrationExecutor(connection).migrate([("testapp", "0002_change_validate")])
        with connection.cursor() as cursor:
            cursor.execute("SELECT convalidated FROM pg_constraint WHERE conname = %s", [FK_NAME])
            after = cursor.fetchone()
            constraints = connection.introspection.get_constraints(cursor, "testapp_invoice")
        MigrationExecutor(connection).migrate([("testapp", "0001_initial")])

    assert before == (False,)
    assert after == (True,)
    assert any(c["foreign_key"] == ("testapp_customer", "id") for c in constraints.values())
    assert any(c["index"] and c["columns"] == ["customer_id"] and not c["foreign_key"]
               for c in constraints.values())


@pytest.mark.parametrize("atomic", [True, False])
def test_ignore_comment_suppresses(atomic):
    source = migration_source([ADD_FK], atomic=atomic).replace(
        "        migrations.AddField(",
        "        # pilot: ignore add-foreign-key-validating -- invoice is empty until launch\n"
        "        migrations.AddField(",
    )

    assert_allows(RULE, source=source)


def test_postgresql_locks_both_tables_as_the_message_says(postgresql_server, tmp_path):
    from tests.lint.test_claims_on_real_databases import observe_locks

    with scratch_connection("postgresql", postgresql_server, tmp_path) as connection:
        observed = observe_locks(connection, [ADD_FK], ["testapp_invoice", "testapp_customer"])

    assert observed == {"testapp_invoice": "ACCESS EXCLUSIVE",
                        "testapp_customer": "SHARE ROW EXCLUSIVE"}
