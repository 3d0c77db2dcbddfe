import uuid

import pytest
from django.db import migrations, models

from migration_pilot.conf import Config
from migration_pilot.lint.render import deploy_steps
from tests.lint.helpers import assert_allows, assert_flags, lint_one, migration_source

RULE = "add-field-not-null"
ONLY = Config(select=frozenset({RULE}))
VENDORS = ["postgresql", "mysql", "sqlite"]
ADD_TIER = migrations.AddField("customer", "tier", models.CharField(max_length=10, default="basic"))


def add(field, name="tier", model="customer", **kwargs):
    return migrations.AddField(model, name, field, **kwargs)


@pytest.mark.parametrize("vendor", VENDORS)
def test_flags_not_null_field_with_python_default_on_every_database(vendor):
    assert_flags(RULE, [ADD_TIER], vendor=vendor)


def test_message():
    (diagnostic,) = lint_one(RULE, [ADD_TIER])

    assert diagnostic.message == (
        "Adding NOT NULL column tier to testapp_customer without a database default breaks"
        " the running code, whose INSERTs omit it."
    )
    assert diagnostic.hint == (
        "Give the field db_default= so the database fills the column for old code,"
        " or add it with null=True and make it NOT NULL in a later release."
    )
    assert diagnostic.lock is None


def test_safe_alternative_keeps_the_default_in_the_database_until_deploy_2():
    (diagnostic,) = lint_one(RULE, [ADD_TIER])

    (first,), (second,) = deploy_steps(diagnostic.safe_alternative or "")
    assert diagnostic.safe_alternative.startswith("# === Deploy 1 of 2: pre-deploy")
    assert "# === Deploy 2 of 2: post-deploy" in diagnostic.safe_alternative
    assert ("migrations.AddField('customer', 'tier',"
            " models.CharField(db_default='basic', default='basic', max_length=10))") in first
    assert "deploy_phase = 'post'" in second
    assert "dependencies = [('testapp', '0002_change')]" in second
    assert ("migrations.AlterField('customer', 'tier', models.CharField(default='basic', max_length=10))"
            in second)


@pytest.mark.parametrize("vendor", VENDORS)
def test_safe_alternative_is_not_flagged_itself(vendor):
    (diagnostic,) = lint_one(RULE, [ADD_TIER], vendor=vendor)

    for migration in deploy_steps(diagnostic.safe_alternative or "")[0]:
        assert_allows(RULE, source=migration, vendor=vendor)


def test_safe_alternative_for_a_callable_default_is_nullable():
    op = add(models.UUIDField(default=uuid.uuid4), name="token")

    (diagnostic,) = lint_one(RULE, [op], config=ONLY)

    assert "models.UUIDField(default=uuid.uuid4, null=True)" in (diagnostic.safe_alternative or "")


def test_safe_alternative_drops_a_one_off_default_in_deploy_2():
    op = add(models.IntegerField(default=0), name="visits", preserve_default=False)

    (diagnostic,) = lint_one(RULE, [op], config=ONLY)

    (first,), (second,) = deploy_steps(diagnostic.safe_alternative or "")
    assert "migrations.AddField('customer', 'visits', models.IntegerField(db_default=0))" in first
    assert "migrations.AlterField('customer', 'visits', models.IntegerField())" in second


def test_safe_alternative_for_a_callable_default_fills_then_sets_not_null():
    op = add(models.UUIDField(default=uuid.uuid4), name="token")

    (diagnostic,) = lint_one(RULE, [op], config=ONLY)

    deploy_1, deploy_2 = deploy_steps(diagnostic.safe_alternative or "")
    assert len(deploy_1) == 1
    assert "update(token=uuid.uuid4())" in deploy_2[0] and "atomic = False" in deploy_2[0]
    assert "AlterField('customer', 'token', models.UUIDField(default=uuid.uuid4))" in deploy_2[-1]


def test_flags_field_without_any_default():
    assert_flags(RULE, [add(models.IntegerField(), name="visits")], config=ONLY)


def test_flags_boolean_with_default():
    assert_flags(RULE, [add(models.BooleanField(default=False), name="vip")])


def test_flags_db_default_none():
    op = add(models.CharField(max_length=10, db_default=None))

    assert_flags(RULE, [op], config=ONLY)


def test_flags_foreign_key_with_its_column_name():
    op = add(models.ForeignKey("testapp.customer", default=1, on_delete=models.CASCADE),
             name="payer", model="invoice")

    diagnostic = assert_flags(RULE, [op])

    assert diagnostic.message.startswith("Adding NOT NULL column payer_id to testapp_invoice ")


def test_allows_db_default():
    op = add(models.CharField(max_length=10, default="basic", db_default="basic"))

    assert_allows(RULE, [op])


def test_allows_expression_db_default():
    op = add(models.DateTimeField(db_default=models.functions.Now()), name="joined")

    assert_allows(RULE, [op])


def test_allows_nullable_field():
    assert_allows(RULE, [add(models.CharField(max_length=10, null=True))])


def test_allows_table_created_in_same_migration():
    create = migrations.CreateModel("Ledger", [("id", models.BigAutoField(primary_key=True))])

    assert_allows(RULE, [create, add(models.IntegerField(default=0), name="balance",
                                     model="ledger")])


def test_allows_many_to_many_field():
    assert_allows(RULE, [add(models.ManyToManyField("testapp.order"), name="favourites")])


def test_allows_generated_field():
    field = models.GeneratedField(expression=models.F("id") * 2, output_field=models.BigIntegerField(),
                                  db_persist=True)

    assert_allows(RULE, [add(field, name="double_id")], config=ONLY)


def test_allows_auto_field():
    assert_allows(RULE, [add(models.SmallAutoField(primary_key=True), name="seq", model="invoice")],
                  config=ONLY)


@pytest.mark.parametrize("vendor", VENDORS)
def test_flags_run_sql_not_null_without_default(vendor):
    op = migrations.RunSQL("ALTER TABLE testapp_customer ADD COLUMN tier varchar(10) NOT NULL",
                           migrations.RunSQL.noop)

    diagnostic = assert_flags(RULE, [op], vendor=vendor)

    assert diagnostic.message == (
        "Adding NOT NULL column tier to testapp_customer without a database default breaks"
        " the running code, whose INSERTs omit it." if vendor == "mysql" else
        "Adding NOT NULL column tier to testapp_customer with no default at all fails outright"
        " when testapp_customer has rows: the database has no value to give them."
    )
    assert diagnostic.hint == (
        "Add the column with a DEFAULT, or as NULL and set NOT NULL in a later release."
    )


def test_flags_run_sql_not_null_with_default_null():
    op = migrations.RunSQL("ALTER TABLE testapp_customer ADD tier int DEFAULT NULL NOT NULL",
                           migrations.RunSQL.noop)

    assert_flags(RULE, [op])


@pytest.mark.parametrize("sql", [
    "ALTER TABLE testapp_customer ADD COLUMN tier varchar(10) NOT NULL DEFAULT 'basic'",
    "ALTER TABLE testapp_customer ADD COLUMN tier varchar(10)",
    "ALTER TABLE testapp_customer ADD COLUMN seq bigserial NOT NULL",
    "ALTER TABLE testapp_customer ADD COLUMN seq int GENERATED ALWAYS AS IDENTITY NOT NULL",
    "ALTER TABLE testapp_customer ADD COLUMN twice bigint GENERATED ALWAYS AS (id * 2) STORED NOT NULL",
    "ALTER TABLE audit_log ADD COLUMN tier varchar(10) NOT NULL",
    "CREATE TABLE fresh (id int); ALTER TABLE fresh ADD COLUMN tier int NOT NULL",
    "ALTER TABLE testapp_customer ALTER COLUMN name SET NOT NULL",
], ids=["default", "nullable", "serial", "identity", "generated", "unknown-table", "new-table",
        "set-not-null"])
def test_allows_run_sql_look_alikes(sql):
    assert_allows(RULE, [migrations.RunSQL(sql, migrations.RunSQL.noop)])


def test_ignore_comment_suppresses():
    source = migration_source([ADD_TIER]).replace(
        "        migrations.AddField(",
        "        # pilot: ignore add-field-not-null -- customers are only created by this release\n"
        "        migrations.AddField(",
    )

    assert_allows(RULE, source=source)


@pytest.mark.parametrize("vendor", ["postgresql", "sqlite"])
def test_message_says_a_column_without_any_default_fails_on_existing_rows(vendor):
    op = migrations.AddField("customer", "tier", models.CharField(max_length=10))

    (diagnostic,) = lint_one("add-field-not-null", [op], vendor=vendor)

    assert diagnostic.message == (
        "Adding NOT NULL column tier to testapp_customer with no default at all fails outright"
        " when testapp_customer has rows: the database has no value to give them."
    )
    assert diagnostic.lock is None


def test_message_for_run_sql_without_default_says_it_fails():
    op = migrations.RunSQL("ALTER TABLE testapp_customer ADD COLUMN tier int NOT NULL",
                           migrations.RunSQL.noop)

    (diagnostic,) = lint_one("add-field-not-null", [op])

    assert "fails outright when testapp_customer has rows" in diagnostic.message


def test_mysql_fills_existing_rows_so_only_old_inserts_break():
    op = migrations.AddField("customer", "tier", models.CharField(max_length=10))

    (diagnostic,) = lint_one("add-field-not-null", [op], vendor="mysql")

    assert diagnostic.message.endswith("breaks the running code, whose INSERTs omit it.")


def test_postgresql_refuses_exactly_what_the_message_says(postgresql_server, tmp_path):
    from django.db.migrations.executor import MigrationExecutor
    from django.db.utils import IntegrityError
    from django.test import override_settings

    from tests.databases import scratch_connection
    from tests.lint.helpers import write_package

    no_default = migrations.AddField("customer", "tier", models.CharField(max_length=10))
    blank = migrations.AddField("customer", "code", models.CharField(max_length=10, blank=True))
    package = write_package({})
    outcomes = {}
    with (scratch_connection("postgresql", postgresql_server, tmp_path) as connection,
          override_settings(MIGRATION_MODULES={"testapp": package})):
        executor = MigrationExecutor(connection)
        executor.migrate([("testapp", "0001_initial")])
        state = executor.loader.project_state(("testapp", "0001_initial"))
        with connection.cursor() as cursor:
            cursor.execute("INSERT INTO testapp_customer (name, email) VALUES ('a', 'a@example.com')")
        for label, operation in (("no-default", no_default), ("blank", blank)):
            new_state = state.clone()
            operation.state_forwards("testapp", new_state)
            try:
                with connection.schema_editor() as editor:
                    operation.database_forwards("testapp", editor, state, new_state)
                outcomes[label] = "applied"
            except IntegrityError:
                outcomes[label] = "failed"
    said = {label: "fails outright" in lint_one("add-field-not-null", [op])[0].message
            for label, op in (("no-default", no_default), ("blank", blank))}

    assert outcomes == {"no-default": "failed", "blank": "applied"}
    assert said == {"no-default": True, "blank": False}
