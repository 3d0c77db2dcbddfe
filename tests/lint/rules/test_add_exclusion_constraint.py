from django.contrib.postgres.constraints import ExclusionConstraint
from django.contrib.postgres.fields import RangeOperators
from django.db import migrations, models
from django.db.migrations.executor import MigrationExecutor
from django.test import override_settings

from tests.databases import scratch_connection
from tests.lint.helpers import assert_allows, assert_flags, lint_one, migration_source, write_package

RULE = "add-exclusion-constraint"
EXCLUSION = ExclusionConstraint(name="invoice_number_excl", expressions=[("number", RangeOperators.EQUAL)])
ADD_EXCLUSION = migrations.AddConstraint("invoice", EXCLUSION)
SQL = "ALTER TABLE testapp_invoice ADD CONSTRAINT inv_excl EXCLUDE USING btree (number WITH =)"


def test_flags_exclusion_constraint_on_existing_table():
    assert_flags(RULE, [ADD_EXCLUSION])


def test_message():
    (diagnostic,) = lint_one(RULE, [ADD_EXCLUSION])

    assert diagnostic.message == (
        "Adding exclusion constraint invoice_number_excl to testapp_invoice blocks reads and writes"
        " on testapp_invoice while its index is built over every row."
    )
    assert diagnostic.hint == (
        "PostgreSQL has no concurrent or NOT VALID form: add it while the table is new or small,"
        " or in a maintenance window with lock_timeout set."
    )
    assert diagnostic.lock is not None
    assert diagnostic.lock.describe() == (
        "ACCESS EXCLUSIVE lock on testapp_invoice (blocks reads and writes; scans the table)"
    )
    assert diagnostic.safe_alternative is None


def test_allows_table_created_in_same_migration():
    create = migrations.CreateModel("Booking", [("id", models.BigAutoField(primary_key=True)),
                                                ("room", models.IntegerField())])
    add = migrations.AddConstraint(
        "booking", ExclusionConstraint(name="booking_room_excl", expressions=[("room", RangeOperators.EQUAL)]))

    assert_allows(RULE, [create, add])


def test_allows_other_constraints():
    unique = models.UniqueConstraint(fields=["number"], name="invoice_number_uniq")

    assert_allows(RULE, [migrations.AddConstraint("invoice", unique)])


def test_allows_on_mysql_and_sqlite():
    assert_allows(RULE, [ADD_EXCLUSION], vendor="mysql")
    assert_allows(RULE, [ADD_EXCLUSION], vendor="sqlite")


def test_flags_exclude_in_run_sql():
    (diagnostic,) = lint_one(RULE, [migrations.RunSQL(SQL, migrations.RunSQL.noop)])

    assert diagnostic.message.startswith("Adding exclusion constraint inv_excl to testapp_invoice")
    assert diagnostic.lock is not None
    assert diagnostic.lock.mode.value == "ACCESS EXCLUSIVE"


def test_flags_unnamed_exclude_in_run_sql():
    op = migrations.RunSQL("ALTER TABLE testapp_invoice ADD EXCLUDE USING gist (number WITH =)",
                           migrations.RunSQL.noop)

    (diagnostic,) = lint_one(RULE, [op])

    assert diagnostic.message.startswith("Adding exclusion constraint (unnamed) to testapp_invoice")


def test_allows_other_alter_table_commands_in_run_sql():
    op = migrations.RunSQL("ALTER TABLE testapp_invoice ADD CONSTRAINT c CHECK (amount >= 0) NOT VALID",
                           migrations.RunSQL.noop)

    assert_allows(RULE, [op])


def test_allows_exclude_on_table_created_in_same_run_sql():
    op = migrations.RunSQL("CREATE TABLE booking (room int); ALTER TABLE booking ADD EXCLUDE USING"
                           " btree (room WITH =); CREATE TABLE slot (room int, EXCLUDE (room WITH =));",
                           migrations.RunSQL.noop)

    assert_allows(RULE, [op])


def test_ignore_comment_suppresses():
    source = migration_source([ADD_EXCLUSION]).replace(
        "        migrations.AddConstraint(",
        f"        # pilot: ignore {RULE} -- runs in the Sunday window\n        migrations.AddConstraint(",
    )

    assert_allows(RULE, source=source)


def test_postgresql_takes_the_claimed_lock(postgresql_server, tmp_path):
    (diagnostic,) = lint_one(RULE, [migrations.RunSQL(SQL, migrations.RunSQL.noop)])
    assert diagnostic.lock is not None
    package = write_package({})

    with (scratch_connection("postgresql", postgresql_server, tmp_path) as connection,
          override_settings(MIGRATION_MODULES={"testapp": package})):
        MigrationExecutor(connection).migrate([("testapp", "0001_initial")])
        with connection.cursor() as cursor:
            cursor.execute("BEGIN")
            cursor.execute(SQL)
            cursor.execute(
                "SELECT l.mode FROM pg_locks l JOIN pg_class c ON c.oid = l.relation"
                " WHERE l.pid = pg_backend_pid() AND c.relname = 'testapp_invoice'")
            modes = {row[0] for row in cursor.fetchall()}
            cursor.execute("ROLLBACK")

    assert diagnostic.lock.mode.value == "ACCESS EXCLUSIVE"
    assert "AccessExclusiveLock" in modes
