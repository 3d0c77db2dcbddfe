import pytest
from django.db import migrations, models
from django.db.migrations.executor import MigrationExecutor
from django.db.models import F, Func
from django.db.models.expressions import RawSQL
from django.db.models.functions import Now, Random
from django.test import override_settings

from migration_pilot.conf import Config
from migration_pilot.lint.render import deploy_steps
from tests.databases import scratch_connection
from tests.lint.helpers import (
    assert_allows,
    assert_flags,
    lint_files,
    lint_one,
    migration_source,
    staged_files,
    write_package,
)

RULE = "add-field-rewrites-table"
RANDOM_UUID = migrations.AddField(
    "order", "token", models.UUIDField(db_default=Func(function="gen_random_uuid")))
STORED = migrations.AddField(
    "order", "double",
    models.GeneratedField(expression=F("quantity") * 2, output_field=models.IntegerField(),
                          db_persist=True))


def test_flags_volatile_db_default():
    assert_flags(RULE, [RANDOM_UUID])


def test_message():
    (diagnostic,) = lint_one(RULE, [RANDOM_UUID])

    assert diagnostic.message == (
        "Adding token to testapp_order rewrites testapp_order (its default gen_random_uuid() is"
        " volatile, so it is evaluated for every row), blocking reads and writes until every row"
        " is written."
    )
    assert diagnostic.hint == (
        "Add the column nullable without the default, backfill it in batches, then set the"
        " default in a later migration."
    )
    assert diagnostic.lock is not None
    assert diagnostic.lock.describe() == (
        "ACCESS EXCLUSIVE lock on testapp_order (blocks reads and writes; rewrites the table)"
    )


def test_safe_alternative_uses_the_users_names():
    (diagnostic,) = lint_one(RULE, [RANDOM_UUID])
    code = diagnostic.safe_alternative or ""

    assert "migrations.AddField('order', 'token', models.UUIDField(null=True))" in code
    (first,), later = deploy_steps(code)
    assert "db_default=models.Func(function='gen_random_uuid'), null=True" in first
    assert "rows.filter(pk__in=batch).update(token=models.Func(function='gen_random_uuid'))" in later[0]
    assert all("deploy_phase = 'post'" in text for text in later)


def test_safe_alternative_is_not_flagged_itself():
    (diagnostic,) = lint_one(RULE, [RANDOM_UUID])

    files = staged_files(diagnostic.safe_alternative or "")
    assert len(files) == 5
    assert not [d for d in lint_files(files) if d.rule == RULE]


def test_safe_alternative_of_a_unique_column_stays_a_first_release_and_says_why():
    op = migrations.AddField("order", "token", models.UUIDField(db_default=Func(function="gen_random_uuid"),
                                                                 unique=True))
    (diagnostic,) = lint_one(RULE, [op])

    assert "# No contract step is generated: the original's inline UNIQUE" in (diagnostic.safe_alternative or "")


@pytest.mark.parametrize("db_default", [Random(), RawSQL("gen_random_uuid()", []),
                                        Func(Func(function="clock_timestamp"), function="date")],
                         ids=["Random", "RawSQL", "nested"])
def test_flags_other_volatile_expressions(db_default):
    assert_flags(RULE, [migrations.AddField("order", "x", models.TextField(db_default=db_default))])


@pytest.mark.parametrize("field", [
    models.DateTimeField(db_default=Now()),
    models.CharField(max_length=5, db_default="eur"),
    models.CharField(max_length=5, default="eur"),
    models.UUIDField(null=True),
], ids=["Now-is-stable", "constant-db-default", "constant-default", "nullable"])
def test_allows_defaults_postgresql_11_stores_in_the_catalog(field):
    assert_allows(RULE, [migrations.AddField("order", "x", field)])


def test_flags_constant_default_before_postgresql_11():
    op = migrations.AddField("order", "currency", models.CharField(max_length=3, default="EUR"))

    (diagnostic,) = lint_one(RULE, [op], config=Config(pg_version=10))

    assert "(before PostgreSQL 11 a column's DEFAULT is written into every row)" in diagnostic.message


def test_flags_stored_generated_column_on_postgresql_and_mysql():
    (pg,) = lint_one(RULE, [STORED])
    (my,) = lint_one(RULE, [STORED], vendor="mysql")

    assert pg.message == (
        "Adding double to testapp_order rewrites testapp_order (a stored generated column is"
        " computed for every row), blocking reads and writes until every row is written."
    )
    assert my.lock is not None
    assert my.lock.describe() == (
        "metadata lock with table copy (LOCK=SHARED) on testapp_order (blocks writes; rewrites"
        " the table)"
    )
    assert pg.safe_alternative is None


def test_flags_auto_increment_column():
    op = migrations.AddField("customer", "serial", models.SmallAutoField(primary_key=True))

    assert_flags(RULE, [op], vendor="postgresql")
    assert_flags(RULE, [op], vendor="mysql")


def test_allows_virtual_generated_column_on_mysql():
    op = migrations.AddField(
        "order", "double",
        models.GeneratedField(expression=F("quantity") * 2, output_field=models.IntegerField(),
                              db_persist=False))

    assert_allows(RULE, [op], vendor="mysql")


def test_allows_volatile_default_on_mysql_and_everything_on_sqlite():
    assert_allows(RULE, [RANDOM_UUID], vendor="mysql")
    assert_allows(RULE, [RANDOM_UUID, STORED], vendor="sqlite")


def test_allows_table_created_in_same_migration():
    create = migrations.CreateModel("Ledger", [("id", models.BigAutoField(primary_key=True))])
    op = migrations.AddField("ledger", "token", models.UUIDField(db_default=Func(function="gen_random_uuid")))

    assert_allows(RULE, [create, op])


@pytest.mark.parametrize(("sql", "reason"), [
    ("ADD COLUMN u uuid DEFAULT gen_random_uuid()",
     "its default gen_random_uuid() is volatile, so it is evaluated for every row"),
    ("ADD COLUMN s bigserial", "a serial column numbers every row"),
    ("ADD COLUMN i bigint GENERATED ALWAYS AS IDENTITY", "an identity column numbers every row"),
    ("ADD COLUMN g int GENERATED ALWAYS AS (quantity * 2) STORED",
     "a stored generated column is computed for every row"),
], ids=["volatile", "serial", "identity", "stored"])
def test_flags_run_sql(sql, reason):
    op = migrations.RunSQL(f"ALTER TABLE testapp_order {sql}", migrations.RunSQL.noop)

    (diagnostic,) = lint_one(RULE, [op])

    assert f"rewrites testapp_order ({reason})" in diagnostic.message


def test_allows_run_sql_stable_default():
    op = migrations.RunSQL("ALTER TABLE testapp_order ADD COLUMN t timestamptz DEFAULT now()")

    assert_allows(RULE, [op])


def test_flags_run_sql_constant_default_before_postgresql_11():
    op = migrations.RunSQL("ALTER TABLE testapp_order ADD COLUMN c text DEFAULT 'x'")

    assert_flags(RULE, [op], config=Config(pg_version=10))
    assert_allows(RULE, [op])


def test_ignore_comment_suppresses():
    source = migration_source([RANDOM_UUID]).replace(
        "        migrations.AddField(",
        "        # pilot: ignore add-field-rewrites-table -- order has 10 rows\n"
        "        migrations.AddField(",
    )

    assert_allows(RULE, source=source)


def _filenode(connection):
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_relation_filenode('testapp_order')")
        return cursor.fetchone()[0]


@pytest.mark.parametrize("operation", [
    RANDOM_UUID,
    STORED,
    migrations.AddField("order", "rnd", models.FloatField(db_default=Random())),
    migrations.AddField("order", "ts", models.DateTimeField(db_default=Now())),
    migrations.AddField("order", "currency", models.CharField(max_length=3, default="EUR")),
], ids=["gen_random_uuid", "stored", "Random", "Now", "constant"])
def test_postgresql_rewrites_exactly_what_the_rule_flags(postgresql_server, tmp_path, operation):
    """Django's own AddField SQL; a new relfilenode means PostgreSQL rewrote the table."""
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
