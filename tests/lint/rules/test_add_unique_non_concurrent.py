
import pytest
from django.db import migrations, models
from django.db.migrations.executor import MigrationExecutor
from django.db.models import Q
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

RULE = "add-unique-non-concurrent"
UNIQUE = models.UniqueConstraint(fields=["number"], name="invoice_number_uniq")
ADD_UNIQUE = migrations.AddConstraint("invoice", UNIQUE)
MAKE_UNIQUE = migrations.AlterField("invoice", "number", models.CharField(max_length=30, unique=True))
ADD_UNIQUE_FIELD = migrations.AddField("invoice", "code",
                                       models.CharField(max_length=30, null=True, unique=True))


def split_steps(code):
    """The two migration modules of a two-step safe alternative."""
    first, second = code.split("\n\n# --- next migration ---\n")
    return first, second


def test_flags_unique_constraint_on_existing_table():
    assert_flags(RULE, [ADD_UNIQUE])


def test_message():
    (diagnostic,) = lint_one(RULE, [ADD_UNIQUE])

    assert diagnostic.message == (
        "Adding unique constraint invoice_number_uniq to testapp_invoice blocks reads and writes"
        " on testapp_invoice while the unique index is built."
    )
    assert diagnostic.hint == (
        "Build the index with CREATE UNIQUE INDEX CONCURRENTLY in a migration with atomic = False,"
        " then attach it with ALTER TABLE ... ADD CONSTRAINT ... UNIQUE USING INDEX in the next one."
    )
    assert diagnostic.lock is not None
    assert diagnostic.lock.describe() == (
        "ACCESS EXCLUSIVE lock on testapp_invoice (blocks reads and writes; scans the table)"
    )


def test_safe_alternative_uses_the_users_names():
    (diagnostic,) = lint_one(RULE, [ADD_UNIQUE])
    first, second = split_steps(diagnostic.safe_alternative or "")

    assert "    atomic = False\n" in first
    assert ("'CREATE UNIQUE INDEX CONCURRENTLY \"invoice_number_uniq\" ON \"testapp_invoice\""
            " (\"number\")'") in first
    assert "dependencies = [('testapp', '0001_initial')]" in first
    assert "atomic" not in second
    assert "dependencies = [('testapp', '0002_change')]" in second
    assert ("'ALTER TABLE \"testapp_invoice\" ADD CONSTRAINT \"invoice_number_uniq\""
            " UNIQUE USING INDEX \"invoice_number_uniq\"'") in second
    assert "constraint=models.UniqueConstraint(fields=('number',), name='invoice_number_uniq')" in second


def test_safe_alternative_is_not_flagged():
    (diagnostic,) = lint_one(RULE, [ADD_UNIQUE])
    first, second = split_steps(diagnostic.safe_alternative or "")

    findings = lint_files({"0002_change": first, "0003_attach": second})

    assert [d.message for d in findings if d.rule in {RULE, "concurrent-in-atomic"}] == []


def test_safe_alternative_keeps_deferrable_and_nulls_not_distinct():
    constraint = models.UniqueConstraint(fields=["number", "status"], name="invoice_number_status_uniq",
                                         deferrable=models.Deferrable.DEFERRED, nulls_distinct=False)

    (diagnostic,) = lint_one(RULE, [migrations.AddConstraint("invoice", constraint)])
    code = diagnostic.safe_alternative or ""

    assert '("number", "status") NULLS NOT DISTINCT' in code
    assert 'USING INDEX "invoice_number_status_uniq" DEFERRABLE INITIALLY DEFERRED' in code


def test_flags_conditional_unique_constraint_with_share_lock():
    constraint = models.UniqueConstraint(fields=["number"], condition=Q(status="open"),
                                         name="invoice_open_number_uniq")

    (diagnostic,) = lint_one(RULE, [migrations.AddConstraint("invoice", constraint)])

    assert diagnostic.message == (
        "Adding unique constraint invoice_open_number_uniq to testapp_invoice blocks writes on"
        " testapp_invoice while the unique index is built."
    )
    assert diagnostic.lock is not None
    assert diagnostic.lock.describe() == "SHARE lock on testapp_invoice (blocks writes; scans the table)"
    assert diagnostic.hint.startswith("Build it with CREATE UNIQUE INDEX CONCURRENTLY in RunSQL")


def test_allows_other_constraints():
    check = models.CheckConstraint(condition=Q(amount__gte=0), name="invoice_amount_gte_0")

    assert_allows(RULE, [migrations.AddConstraint("invoice", check)])


def test_allows_table_created_in_same_migration():
    create = migrations.CreateModel("Ledger", [("id", models.BigAutoField(primary_key=True)),
                                               ("code", models.CharField(max_length=5))])
    add = migrations.AddConstraint("ledger", models.UniqueConstraint(fields=["code"], name="ledger_code_uniq"))

    assert_allows(RULE, [create, add])


def test_allows_on_mysql_and_sqlite():
    assert_allows(RULE, [ADD_UNIQUE], vendor="mysql")
    assert_allows(RULE, [ADD_UNIQUE], vendor="sqlite")


def test_flags_alter_field_making_column_unique():
    (diagnostic,) = lint_one(RULE, [MAKE_UNIQUE])

    assert diagnostic.message == (
        "Making number unique on testapp_invoice blocks reads and writes on testapp_invoice"
        " while the unique index is built."
    )
    assert diagnostic.lock is not None
    assert diagnostic.lock.mode.value == "ACCESS EXCLUSIVE"
    first, second = split_steps(diagnostic.safe_alternative or "")
    assert 'CREATE UNIQUE INDEX CONCURRENTLY "testapp_invoice_number_fe9c8e93_uniq"' in first
    assert '"testapp_invoice_number_fe9c8e93_like" ON "testapp_invoice" ("number" varchar_pattern_ops)' in first
    assert "field=models.CharField(max_length=30, unique=True)" in second


def test_alter_field_changing_more_than_unique_gets_no_rendered_alternative():
    op = migrations.AlterField("invoice", "number", models.CharField(max_length=40, unique=True))

    (diagnostic,) = lint_one(RULE, [op])

    assert diagnostic.safe_alternative is None


def test_allows_alter_field_on_already_unique_column():
    files = {
        "0002_unique": migration_source([MAKE_UNIQUE], name="0002_unique"),
        "0003_change": migration_source(
            [migrations.AlterField("invoice", "number", models.CharField(max_length=40, unique=True))],
            name="0003_change").replace("('testapp', '0001_initial')", "('testapp', '0002_unique')"),
    }

    assert [d for d in lint_files(files) if d.rule == RULE and d.migration == "0003_change"] == []


def test_allows_alter_field_without_unique():
    assert_allows(RULE, [migrations.AlterField("invoice", "number", models.CharField(max_length=40))])


def test_flags_add_field_with_unique():
    (diagnostic,) = lint_one(RULE, [ADD_UNIQUE_FIELD])

    assert diagnostic.message == (
        "Adding unique column code to testapp_invoice blocks reads and writes on testapp_invoice"
        " while the unique index is built."
    )
    first, second = split_steps(diagnostic.safe_alternative or "")
    assert "field=models.CharField(max_length=30, null=True)," in first
    assert "field=models.CharField(max_length=30, null=True, unique=True)" in second


def test_add_one_to_one_field_is_flagged_without_rendered_alternative():
    op = migrations.AddField("invoice", "customer",
                             models.OneToOneField("testapp.customer", null=True, on_delete=models.CASCADE))

    (diagnostic,) = lint_one(RULE, [op])

    assert diagnostic.message.startswith("Adding unique column customer_id to testapp_invoice")
    assert diagnostic.safe_alternative is None


def test_flags_unique_together_additions():
    op = migrations.AlterUniqueTogether("invoice", {("number", "status")})

    (diagnostic,) = lint_one(RULE, [op])

    assert diagnostic.message == (
        "Adding unique constraint on (number, status) to testapp_invoice blocks reads and writes"
        " on testapp_invoice while the unique index is built."
    )
    assert "unique_together={('number', 'status')}" in (diagnostic.safe_alternative or "")


def test_allows_unique_together_removal():
    files = {
        "0002_unique": migration_source([migrations.AlterUniqueTogether("invoice", {("number", "status")})],
                                        name="0002_unique"),
        "0003_change": migration_source([migrations.AlterUniqueTogether("invoice", set())],
                                        name="0003_change").replace(
            "('testapp', '0001_initial')", "('testapp', '0002_unique')"),
    }

    assert [d for d in lint_files(files) if d.rule == RULE and d.migration == "0003_change"] == []


def test_flags_add_constraint_unique_in_run_sql():
    op = migrations.RunSQL("ALTER TABLE testapp_invoice ADD CONSTRAINT inv_num_uniq UNIQUE (number);",
                           migrations.RunSQL.noop)

    diagnostic = assert_flags(RULE, [op])

    assert diagnostic.message.startswith("Adding unique constraint inv_num_uniq to testapp_invoice")
    assert diagnostic.lock is not None
    assert diagnostic.lock.mode.value == "ACCESS EXCLUSIVE"


def test_flags_add_column_unique_in_run_sql():
    op = migrations.RunSQL("ALTER TABLE testapp_invoice ADD COLUMN code varchar(10) UNIQUE",
                           migrations.RunSQL.noop)

    diagnostic = assert_flags(RULE, [op])

    assert diagnostic.message.startswith("Adding unique column code to testapp_invoice")


def test_flags_create_unique_index_in_run_sql_with_share_lock():
    op = migrations.RunSQL("CREATE UNIQUE INDEX inv_num ON testapp_invoice (number)", migrations.RunSQL.noop)

    (diagnostic,) = lint_one(RULE, [op])

    assert diagnostic.hint == "Use CREATE UNIQUE INDEX CONCURRENTLY in a migration with atomic = False."
    assert diagnostic.lock is not None
    assert diagnostic.lock.mode.value == "SHARE"


def test_create_unique_index_is_not_also_reported_as_a_plain_index():
    op = migrations.RunSQL("CREATE UNIQUE INDEX inv_num ON testapp_invoice (number)", migrations.RunSQL.noop)

    assert_allows("add-index-non-concurrent", [op])


def test_allows_the_concurrent_sql_forms():
    build = migrations.RunSQL("CREATE UNIQUE INDEX CONCURRENTLY inv_num ON testapp_invoice (number)",
                              migrations.RunSQL.noop)
    attach = migrations.RunSQL(
        "ALTER TABLE testapp_invoice ADD CONSTRAINT inv_num UNIQUE USING INDEX inv_num",
        migrations.RunSQL.noop)

    assert_allows(RULE, [build], atomic=False)
    assert_allows(RULE, [attach])


def test_allows_sql_on_table_created_in_same_run_sql():
    op = migrations.RunSQL("CREATE TABLE ledger (code text); ALTER TABLE ledger ADD UNIQUE (code);"
                           " CREATE UNIQUE INDEX ledger_code ON ledger (code);", migrations.RunSQL.noop)

    assert_allows(RULE, [op])


def test_ignore_comment_suppresses():
    source = migration_source([ADD_UNIQUE]).replace(
        "        migrations.AddConstraint(",
        f"        # pilot: ignore {RULE} -- invoice is empty until launch\n        migrations.AddConstraint(",
    )

    assert_allows(RULE, source=source)


def test_rendered_alternative_migrates_forwards_and_backwards_on_postgresql(postgresql_server, tmp_path):
    (diagnostic,) = lint_one(RULE, [ADD_UNIQUE])
    first, second = split_steps(diagnostic.safe_alternative or "")
    package = write_package({"0002_change": first, "0003_attach": second})

    with (scratch_connection("postgresql", postgresql_server, tmp_path) as connection,
          override_settings(MIGRATION_MODULES={"testapp": package})):
        executor = MigrationExecutor(connection)
        executor.migrate([("testapp", "0003_attach")])
        with connection.cursor() as cursor:
            constraints = connection.introspection.get_constraints(cursor, "testapp_invoice")
        executor.loader.build_graph()
        executor.migrate([("testapp", "0001_initial")])
        with connection.cursor() as cursor:
            after_rollback = connection.introspection.get_constraints(cursor, "testapp_invoice")

    assert constraints["invoice_number_uniq"]["unique"] is True
    assert constraints["invoice_number_uniq"]["columns"] == ["number"]
    assert "invoice_number_uniq" not in after_rollback


@pytest.mark.parametrize(("operation", "column"), [(MAKE_UNIQUE, "number"), (ADD_UNIQUE_FIELD, "code")],
                         ids=["alter-field", "add-field"])
def test_rendered_field_alternative_is_what_django_can_undo_on_postgresql(
        postgresql_server, tmp_path, operation, column):
    (diagnostic,) = lint_one(RULE, [operation])
    first, second = split_steps(diagnostic.safe_alternative or "")
    not_unique = migrations.AlterField("invoice", column, models.CharField(max_length=30, null=column == "code"))
    package = write_package({
        "0002_change": first,
        "0003_attach": second,
        "0004_not_unique": migration_source([not_unique], name="0004_not_unique").replace(
            "('testapp', '0001_initial')", "('testapp', '0003_attach')"),
    })

    def unique_on_column(connection):
        with connection.cursor() as cursor:
            constraints = connection.introspection.get_constraints(cursor, "testapp_invoice")
        return [name for name, info in constraints.items()
                if info["unique"] and info["columns"] == [column]]

    with (scratch_connection("postgresql", postgresql_server, tmp_path) as connection,
          override_settings(MIGRATION_MODULES={"testapp": package})):
        MigrationExecutor(connection).migrate([("testapp", "0003_attach")])
        attached = unique_on_column(connection)
        MigrationExecutor(connection).migrate([("testapp", "0004_not_unique")])
        removed_by_django = unique_on_column(connection)
        MigrationExecutor(connection).migrate([("testapp", "0001_initial")])

    assert len(attached) == 1 and attached[0].endswith("_key" if column == "code" else "_uniq")
    assert removed_by_django == []


ADD_CODE = migrations.AddField("invoice", "code", models.CharField(max_length=20, null=True))
CODE_UNIQUE = migrations.AddConstraint(
    "invoice", models.UniqueConstraint(fields=["code"], name="invoice_code_uniq"))


def test_constraint_fix_brings_the_add_field_it_depends_on():
    (diagnostic,) = lint_one(RULE, [ADD_CODE, CODE_UNIQUE])
    first, second = split_steps(diagnostic.safe_alternative or "")

    assert "migrations.AddField(\n            model_name='invoice',\n            name='code'," in first
    assert "AddField of code moves here from this migration." in first
    assert first.index("migrations.AddField(") < first.index("CREATE UNIQUE INDEX CONCURRENTLY")


def test_constraint_fix_with_its_add_field_gives_the_original_schema_on_postgresql(
        postgresql_server, tmp_path):
    from tests.lint.schema import pg_schema

    (diagnostic,) = lint_one(RULE, [ADD_CODE, CODE_UNIQUE])
    first, second = split_steps(diagnostic.safe_alternative or "")
    schemas = {}
    for label, files in (("original", {"0002_change": migration_source([ADD_CODE, CODE_UNIQUE])}),
                         ("fixed", {"0002_change": first, "0003_attach": second})):
        package = write_package(files)
        with (scratch_connection("postgresql", postgresql_server, tmp_path / label) as connection,
              override_settings(MIGRATION_MODULES={"testapp": package})):
            MigrationExecutor(connection).migrate([("testapp", list(files)[-1])])
            forwards = pg_schema(connection)
            MigrationExecutor(connection).migrate([("testapp", "0001_initial")])
            schemas[label] = (forwards, pg_schema(connection))

    assert schemas["fixed"] == schemas["original"]


OPEN_NUMBER = migrations.AddConstraint("invoice", models.UniqueConstraint(
    fields=["number"], condition=Q(status="open"), name="invoice_open_number_uniq"))


def test_conditional_constraint_fix_builds_djangos_index_concurrently():
    (diagnostic,) = lint_one(RULE, [OPEN_NUMBER])
    code = diagnostic.safe_alternative or ""

    assert "atomic = False" in code
    assert 'CREATE UNIQUE INDEX CONCURRENTLY "invoice_open_number_uniq" ON "testapp_invoice"' in code
    assert "WHERE" in code and "state_operations=[" in code
    assert_allows(RULE, source=code)


def test_conditional_constraint_fix_gives_the_original_schema_on_postgresql(postgresql_server,
                                                                             tmp_path):
    from tests.lint.schema import pg_schema

    (diagnostic,) = lint_one(RULE, [OPEN_NUMBER])
    schemas = {}
    for label, text in (("original", migration_source([OPEN_NUMBER])),
                        ("fixed", diagnostic.safe_alternative or "")):
        package = write_package({"0002_change": text})
        with (scratch_connection("postgresql", postgresql_server, tmp_path / label) as connection,
              override_settings(MIGRATION_MODULES={"testapp": package})):
            MigrationExecutor(connection).migrate([("testapp", "0002_change")])
            forwards = pg_schema(connection)
            MigrationExecutor(connection).migrate([("testapp", "0001_initial")])
            schemas[label] = (forwards, pg_schema(connection))

    assert schemas["fixed"] == schemas["original"]


LONG_UNIQUE_FIELD = migrations.AddField("invoice", "a_rather_long_reference_code_for_the_ledger_export",
                                        models.CharField(max_length=20, null=True, unique=True))


@pytest.mark.parametrize("operation", [ADD_UNIQUE_FIELD, LONG_UNIQUE_FIELD, MAKE_UNIQUE],
                         ids=["add-field", "add-field-long-name", "alter-field"])
def test_field_fix_gives_the_original_schema_on_postgresql(postgresql_server, tmp_path, operation):
    """Found on django-oscar: PostgreSQL, not Django, names a UNIQUE written inline in ADD COLUMN."""
    from tests.lint.schema import pg_schema

    (diagnostic,) = lint_one(RULE, [operation])
    first, second = split_steps(diagnostic.safe_alternative or "")
    schemas = {}
    for label, files in (("original", {"0002_change": migration_source([operation])}),
                         ("fixed", {"0002_change": first, "0002_change_attach": second})):
        package = write_package(files)
        with (scratch_connection("postgresql", postgresql_server, tmp_path / label) as connection,
              override_settings(MIGRATION_MODULES={"testapp": package})):
            MigrationExecutor(connection).migrate([("testapp", list(files)[-1])])
            forwards = pg_schema(connection)
            MigrationExecutor(connection).migrate([("testapp", "0001_initial")])
            schemas[label] = (forwards, pg_schema(connection))

    assert schemas["fixed"] == schemas["original"]


ADD_MEMO = migrations.AddField("invoice", "memo", models.TextField(null=True))


def test_fix_that_moves_an_add_field_names_every_operation_it_replaces():
    from migration_pilot.lint.render import replaced_operations

    (diagnostic,) = lint_one(RULE, [ADD_CODE, ADD_MEMO, CODE_UNIQUE])
    code = diagnostic.safe_alternative or ""

    assert diagnostic.operation == 2
    assert replaced_operations(code) == [0, 2]
    assert code.startswith("# This fix replaces operations #0, #2 of testapp.0002_change: delete all of them")
    assert "#   #0: Add field code to invoice" in code
    assert "#   #1" not in code


def test_fix_for_its_own_operation_alone_names_no_others():
    from migration_pilot.lint.render import replaced_operations

    (diagnostic,) = lint_one(RULE, [ADD_MEMO, ADD_UNIQUE])

    assert replaced_operations(diagnostic.safe_alternative or "") is None


def _depending_on(text, previous):
    head, _, tail = text.partition("dependencies = [")
    return head + f"dependencies = [('testapp', {previous!r})" + tail[tail.index("]"):]


def test_fix_in_place_of_the_operations_it_replaces_gives_the_original_schema_on_postgresql(
        postgresql_server, tmp_path):
    """As bench/realapps splices it: the other operations stay, the replaced ones go (django-oscar basket 0002)."""
    from migration_pilot.lint.render import replaced_operations
    from tests.lint.schema import pg_schema

    operations = [ADD_CODE, ADD_MEMO, CODE_UNIQUE]
    (diagnostic,) = lint_one(RULE, operations)
    code = diagnostic.safe_alternative or ""
    replaced = replaced_operations(code) or []
    kept = [op for index, op in enumerate(operations) if index not in replaced]
    first, second = split_steps(code)
    layouts = {
        "original": {"0002_change": migration_source(operations)},
        "fixed": {"0002_change": migration_source(kept), "0003_build": _depending_on(first, "0002_change"),
                  "0004_attach": _depending_on(second, "0003_build")},
    }
    schemas = {}
    for label, files in layouts.items():
        package = write_package(files)
        with (scratch_connection("postgresql", postgresql_server, tmp_path / label) as connection,
              override_settings(MIGRATION_MODULES={"testapp": package})):
            MigrationExecutor(connection).migrate([("testapp", list(files)[-1])])
            schemas[label] = pg_schema(connection)

    assert kept == [ADD_MEMO]
    assert schemas["fixed"] == schemas["original"]
