import sys

import pytest
from django.db import migrations, models
from django.db.utils import DatabaseError, NotSupportedError, OperationalError

from migration_pilot.backends import column_types
from migration_pilot.lint.rules import alter_column_type
from tests.databases import scratch_connection
from tests.lint.helpers import assert_allows, assert_flags, lint_one, migration_source

RULE = "alter-column-type"
TO_INTEGER = migrations.AlterField("invoice", "number", models.IntegerField())


def test_flags_varchar_to_integer():
    assert_flags(RULE, [TO_INTEGER])


def test_message_on_postgresql():
    (diagnostic,) = lint_one(RULE, [TO_INTEGER])

    assert diagnostic.message == (
        "Changing the type of number on testapp_invoice from varchar(30) to integer rewrites"
        " testapp_invoice, blocking reads and writes until every row is converted."
    )
    assert diagnostic.hint == (
        "Add a new column of the new type, write both, backfill in batches, switch reads, then"
        " drop the old column."
    )
    assert diagnostic.lock is not None
    assert diagnostic.lock.describe() == (
        "ACCESS EXCLUSIVE lock on testapp_invoice (blocks reads and writes; rewrites the table)"
    )


@pytest.mark.parametrize("driver", ["as-installed", "absent"])
def test_message_on_mysql(monkeypatch, driver):
    if driver == "absent":
        monkeypatch.setitem(sys.modules, "MySQLdb", None)
        column_types.data_types.cache_clear()
    (diagnostic,) = lint_one(RULE, [TO_INTEGER], vendor="mysql")

    assert diagnostic.message == (
        "Changing the type of number on testapp_invoice from varchar(30) to integer rewrites"
        " testapp_invoice, blocking writes until every row is converted."
    )
    assert diagnostic.lock is not None
    assert diagnostic.lock.describe() == (
        "metadata lock with table copy (LOCK=SHARED) on testapp_invoice (blocks writes;"
        " rewrites the table)"
    )


def test_safe_alternative_expands_with_the_users_names():
    op = migrations.AlterField("invoice", "number", models.IntegerField(unique=True))

    (diagnostic,) = lint_one(RULE, [op])
    code = diagnostic.safe_alternative or ""

    assert "migrations.AddField('invoice', 'number_new', models.IntegerField(null=True))" in code
    assert "# 2. backfill number_new from number in batches" in code
    assert "# 5. stop writing number, then remove it in a later release." in code


@pytest.mark.parametrize("field", [
    models.CharField(max_length=60),
    models.CharField(max_length=30),
    models.CharField(max_length=None),
    models.TextField(),
], ids=["wider", "same", "unlimited", "text"])
def test_allows_catalog_only_changes_on_postgresql(field):
    assert_allows(RULE, [migrations.AlterField("invoice", "number", field)])


def test_allows_numeric_precision_growth_on_postgresql():
    field = models.DecimalField(max_digits=14, decimal_places=2)

    assert_allows(RULE, [migrations.AlterField("invoice", "amount", field)])


@pytest.mark.parametrize(("field", "vendors"), [
    (models.CharField(max_length=20), ["postgresql", "mysql"]),
    (models.DecimalField(max_digits=10, decimal_places=3), ["postgresql", "mysql"]),
    (models.DecimalField(max_digits=14, decimal_places=2), ["mysql"]),
    (models.TextField(), ["mysql"]),
], ids=["shrink", "scale", "numeric-grow-mysql", "text-mysql"])
def test_flags_changes_that_rewrite(field, vendors):
    name = "amount" if isinstance(field, models.DecimalField) else "number"
    for vendor in vendors:
        assert_flags(RULE, [migrations.AlterField("invoice", name, field)], vendor=vendor)


def test_mysql_widening_within_the_length_byte_bucket_is_allowed():
    assert_allows(RULE, [migrations.AlterField("invoice", "number", models.CharField(max_length=63))],
                  vendor="mysql")


def test_mysql_widening_across_the_length_byte_bucket_is_flagged():
    assert_flags(RULE, [migrations.AlterField("invoice", "number", models.CharField(max_length=64))],
                 vendor="mysql")


def test_allows_table_created_in_same_migration():
    create = migrations.CreateModel("Ledger", [("id", models.BigAutoField(primary_key=True)),
                                               ("code", models.CharField(max_length=5))])

    assert_allows(RULE, [create, migrations.AlterField("ledger", "code", models.IntegerField())])


def test_allows_on_sqlite():
    assert_allows(RULE, [TO_INTEGER], vendor="sqlite")


def test_allows_relation_fields():
    field = models.ForeignKey("testapp.customer", on_delete=models.PROTECT)

    assert_allows(RULE, [migrations.AlterField("order", "customer", field)])


def test_allows_state_only_change():
    assert_allows(RULE, [migrations.SeparateDatabaseAndState(state_operations=[TO_INTEGER])])


def test_flags_run_sql_type_change():
    op = migrations.RunSQL("ALTER TABLE testapp_invoice ALTER COLUMN number TYPE integer"
                           " USING number::integer", migrations.RunSQL.noop)

    (diagnostic,) = lint_one(RULE, [op])

    assert diagnostic.message == (
        "Changing the type of number on testapp_invoice from varchar(30) to integer rewrites"
        " testapp_invoice, blocking reads and writes until every row is converted."
    )


def test_flags_run_sql_on_a_table_no_model_maps():
    op = migrations.RunSQL("ALTER TABLE legacy ALTER COLUMN code TYPE varchar(50)")

    (diagnostic,) = lint_one(RULE, [op])

    assert diagnostic.message.startswith("Changing the type of code on legacy to varchar(50)")


def test_allows_run_sql_widening():
    op = migrations.RunSQL("ALTER TABLE testapp_invoice ALTER COLUMN number TYPE varchar(50)")

    assert_allows(RULE, [op])


def test_flags_run_sql_widening_with_a_computed_using():
    op = migrations.RunSQL("ALTER TABLE testapp_invoice ALTER COLUMN number TYPE text"
                           " USING upper(number)")

    assert_flags(RULE, [op])


def test_types_without_a_database_driver(monkeypatch):
    monkeypatch.setattr(alter_column_type, "_data_types", lambda vendor: None)

    widen = alter_column_type.column_type(models.CharField(max_length=50), "postgresql")
    old = alter_column_type.column_type(models.CharField(max_length=20), "postgresql")
    number = alter_column_type.column_type(models.IntegerField(), "postgresql")

    assert widen is not None and old is not None and number is not None
    assert alter_column_type.metadata_only("postgresql", old, widen)
    assert not alter_column_type.metadata_only("postgresql", old, number)


def test_ignore_comment_suppresses():
    source = migration_source([TO_INTEGER]).replace(
        "        migrations.AlterField(",
        "        # pilot: ignore alter-column-type -- invoice is empty\n        migrations.AlterField(",
    )

    assert_allows(RULE, source=source)


MARIADB_TABLE = "CREATE TABLE t (v varchar(20), x varchar(50), d decimal(10,2)) DEFAULT CHARSET=utf8mb4"
OLD_TYPES = {"v": ("varchar", (20,)), "x": ("varchar", (50,)), "d": ("numeric", (10, 2))}


@pytest.mark.parametrize(("column", "new", "in_place"), [
    ("v", ("varchar", (50,)), True),
    ("x", ("varchar", (100,)), False),
    ("d", ("numeric", (12, 2)), False),
], ids=["varchar-1-byte-prefix", "varchar-crosses-255-bytes", "decimal-grows"])
def test_mariadb_agrees_with_the_in_place_claim(mysql_server, tmp_path, column, new, in_place):
    """ALGORITHM=INPLACE, LOCK=NONE is refused exactly when the rule says the table is copied."""
    target = f"{new[0]}({', '.join(map(str, new[1]))})"
    with scratch_connection("mysql", mysql_server, tmp_path) as connection, connection.cursor() as cursor:
        cursor.execute(MARIADB_TABLE)
        cursor.execute("INSERT INTO t VALUES ('a', 'b', 1.5)")
        try:
            cursor.execute(f"ALTER TABLE t MODIFY {column} {target}, ALGORITHM=INPLACE, LOCK=NONE")
            done = True
        except (DatabaseError, NotSupportedError, OperationalError):
            done = False
    old = alter_column_type.ColumnType(*OLD_TYPES[column], "")

    assert done is in_place
    assert alter_column_type.metadata_only("mysql", old, alter_column_type.ColumnType(*new, target)) \
        is in_place


def _filenode(connection):
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_relation_filenode('testapp_invoice')")
        return cursor.fetchone()[0]


@pytest.mark.parametrize(("name", "field"), [
    ("number", models.CharField(max_length=60)),
    ("number", models.TextField()),
    ("amount", models.DecimalField(max_digits=14, decimal_places=2)),
    ("number", models.IntegerField()),
    ("amount", models.DecimalField(max_digits=10, decimal_places=3)),
], ids=["varchar-wider", "varchar-text", "numeric-wider", "varchar-integer", "numeric-scale"])
def test_postgresql_rewrites_exactly_what_the_rule_flags(postgresql_server, tmp_path, name, field):
    """Django's own AlterField SQL; a new relfilenode means PostgreSQL rewrote the table."""
    from django.db.migrations.executor import MigrationExecutor
    from django.test import override_settings

    from tests.lint.helpers import write_package

    operation = migrations.AlterField("invoice", name, field)
    flagged = bool(lint_one(RULE, [operation]))
    package = write_package({})
    with (scratch_connection("postgresql", postgresql_server, tmp_path) as connection,
          override_settings(MIGRATION_MODULES={"testapp": package})):
        executor = MigrationExecutor(connection)
        executor.migrate([("testapp", "0001_initial")])
        state = executor.loader.project_state(("testapp", "0001_initial"))
        before = _filenode(connection)
        new_state = state.clone()
        operation.state_forwards("testapp", new_state)
        with connection.schema_editor() as editor:
            operation.database_forwards("testapp", editor, state, new_state)
        rewritten = _filenode(connection) != before

    assert rewritten is flagged


def test_flags_foreign_key_to_char_field():
    op = migrations.AlterField("invoice", "order", models.CharField(max_length=20, null=True))

    (diagnostic,) = lint_one(RULE, [op])

    assert diagnostic.message == (
        "Changing the type of order on testapp_invoice from bigint to varchar(20) rewrites"
        " testapp_invoice, blocking reads and writes until every row is converted."
    )


def test_allows_foreign_key_kept_as_a_foreign_key_to_the_same_key_type():
    op = migrations.AlterField("invoice", "order", models.ForeignKey(
        "testapp.order", on_delete=models.PROTECT, null=True))

    assert_allows(RULE, [op])


def test_postgresql_rewrites_a_foreign_key_turned_char_field(postgresql_server, tmp_path):
    from django.db.migrations.executor import MigrationExecutor
    from django.test import override_settings

    from tests.lint.helpers import write_package

    operation = migrations.AlterField("invoice", "order", models.CharField(max_length=20, null=True))
    package = write_package({})
    with (scratch_connection("postgresql", postgresql_server, tmp_path) as connection,
          override_settings(MIGRATION_MODULES={"testapp": package})):
        executor = MigrationExecutor(connection)
        executor.migrate([("testapp", "0001_initial")])
        state = executor.loader.project_state(("testapp", "0001_initial"))
        before = _filenode(connection)
        new_state = state.clone()
        operation.state_forwards("testapp", new_state)
        with connection.schema_editor() as editor:
            operation.database_forwards("testapp", editor, state, new_state)
        rewritten = _filenode(connection) != before

    assert rewritten
    assert lint_one(RULE, [operation])
