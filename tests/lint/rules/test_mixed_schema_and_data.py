import pytest
from django.core import validators
from django.db import migrations, models

from tests.lint.helpers import assert_allows, assert_flags, lint_one

RULE = "mixed-schema-and-data"
ADD_FIELD = migrations.AddField("order", "reference", models.CharField(max_length=32, null=True))
BACKFILL_SQL = migrations.RunSQL("UPDATE testapp_order SET reference = 'ORD-' || id WHERE reference IS NULL",
                                 migrations.RunSQL.noop)
RUN_PYTHON_SOURCE = '''from django.db import migrations, models


def fill(apps, schema_editor):
    Order = apps.get_model("testapp", "Order")
    Order.objects.filter(note="").update(note="-")


class Migration(migrations.Migration):
    dependencies = [("testapp", "0001_initial")]
    operations = [
        migrations.AddField("order", "reference", models.CharField(max_length=32, null=True)),
        migrations.RunPython(fill, migrations.RunPython.noop),
    ]
'''


def test_flags_add_field_and_run_python():
    assert_flags(RULE, source=RUN_PYTHON_SOURCE)


def test_flags_add_field_and_data_sql():
    assert_flags(RULE, [ADD_FIELD, BACKFILL_SQL])


def test_flags_one_run_sql_mixing_ddl_and_dml():
    op = migrations.RunSQL("ALTER TABLE testapp_order ADD COLUMN reference varchar(32);"
                           " UPDATE testapp_order SET reference = 'x' WHERE reference IS NULL",
                           migrations.RunSQL.noop)

    assert_flags(RULE, [op])


def test_allows_schema_only_and_data_only():
    ddl = migrations.RunSQL("CREATE INDEX order_note_idx ON testapp_order (note)", migrations.RunSQL.noop)

    assert_allows(RULE, [ADD_FIELD, ddl])
    assert_allows(RULE, [BACKFILL_SQL, migrations.RunPython(migrations.RunPython.noop, migrations.RunPython.noop)])


def test_allows_state_only_operations_with_data():
    ops = [migrations.AlterModelOptions("order", {"ordering": ["id"]}), BACKFILL_SQL,
           migrations.SeparateDatabaseAndState(state_operations=[ADD_FIELD])]

    assert_allows(RULE, ops)


def test_allows_seeding_a_new_table_on_postgresql_and_sqlite_but_not_mysql():
    ops = [migrations.CreateModel("Ledger", [("id", models.BigAutoField(primary_key=True)),
                                             ("note", models.TextField(default=""))]),
           migrations.AddIndex("ledger", models.Index(fields=["note"], name="ledger_note_idx")),
           migrations.RunSQL("INSERT INTO testapp_ledger (note) VALUES ('first')", migrations.RunSQL.noop)]

    assert_allows(RULE, ops, vendor="postgresql")
    assert_allows(RULE, ops, vendor="sqlite")
    assert_flags(RULE, ops, vendor="mysql")


def test_allows_non_atomic_migration_on_postgresql_but_not_mysql():
    assert_allows(RULE, [ADD_FIELD, BACKFILL_SQL], atomic=False)
    assert_flags(RULE, [ADD_FIELD, BACKFILL_SQL], atomic=False, vendor="mysql")


def test_flags_on_every_vendor():
    for vendor in ("postgresql", "mysql", "sqlite"):
        assert_flags(RULE, [ADD_FIELD, BACKFILL_SQL], vendor=vendor)


def test_message_on_postgresql():
    (diagnostic,) = lint_one(RULE, source=RUN_PYTHON_SOURCE)

    assert diagnostic.message == (
        "Migration testapp.0002_change mixes schema changes (AddField) with data changes"
        " (RunPython): the data step runs while the schema step's locks are held, until the"
        " migration commits."
    )
    assert diagnostic.hint == (
        "Split it: the schema change in one migration, the data change in the next one,"
        " which depends on it."
    )
    assert diagnostic.operation == 1
    assert diagnostic.lock is None


def test_message_on_mysql():
    (diagnostic,) = lint_one(RULE, [ADD_FIELD, BACKFILL_SQL], vendor="mysql")

    assert diagnostic.message == (
        "Migration testapp.0002_change mixes schema changes (AddField) with data changes"
        " (RunSQL): each DDL statement commits at once, so if the data step fails the schema"
        " change stays applied and Django does not record the migration."
    )


def test_safe_alternative_names_the_split():
    (diagnostic,) = lint_one(RULE, [ADD_FIELD, BACKFILL_SQL])

    assert diagnostic.safe_alternative == (
        "1. Keep AddField in 0002_change.\n"
        "2. Move RunSQL to a new migration of testapp with"
        " dependencies = [('testapp', '0002_change')].\n"
        "3. Point later migrations that depended on this one at the new one."
    )


def test_ignore_comment_suppresses():
    source = RUN_PYTHON_SOURCE.replace(
        "        migrations.RunPython(",
        "        # pilot: ignore mixed-schema-and-data -- testapp_order is tiny\n        migrations.RunPython(")

    assert_allows(RULE, source=source)


# Schema operations that emit no SQL ---------------------------------------------------------

STATUS = {"default": "new", "max_length": 20}
CHOICES_ONLY = migrations.AlterField("order", "status", models.CharField(
    choices=[("new", "New"), ("paid", "Paid")], **STATUS))
PYTHON_ONLY_CHANGES = {
    "choices": CHOICES_ONLY,
    "help-text-and-verbose-name": migrations.AlterField("order", "status", models.CharField(
        help_text="Where the order is", verbose_name="state", **STATUS)),
    "validators": migrations.AlterField("order", "status", models.CharField(
        validators=[validators.MinLengthValidator(2)], **STATUS)),
    "db-column-keeps-the-column": migrations.AlterField("order", "note", models.TextField(
        blank=True, default="", db_column="note")),
    "on-delete-and-related-name": migrations.AlterField("order", "customer", models.ForeignKey(
        "testapp.customer", on_delete=models.PROTECT, related_name="orders")),
    "python-default-only": migrations.AlterField("order", "status", models.CharField(
        default="draft", max_length=20)),
    "email-field-to-char-field": migrations.AlterField("customer", "email", models.CharField(
        max_length=254)),
}
COLUMN_CHANGES = {
    "max-length": migrations.AlterField("order", "status", models.CharField(default="new",
                                                                            max_length=40)),
    "nullable": migrations.AlterField("order", "note", models.TextField(blank=True, default="",
                                                                        null=True)),
    "db-column-renames": migrations.AlterField("order", "note", models.TextField(
        blank=True, default="", db_column="remark")),
    "rename-field": migrations.RenameField("order", "note", "remark"),
    "positive-integer-check": migrations.AlterField("order", "quantity", models.PositiveIntegerField(
        default=1)),
    "db-index": migrations.AlterField("order", "status", models.CharField(
        default="new", max_length=20, db_index=True)),
}
BACKFILL_TEMPLATE = '''IMPORTS


def fill(apps, schema_editor):
    Order = apps.get_model("testapp", "Order")
    Order.objects.filter(note="").update(note="-")


class Migration(migrations.Migration):
    dependencies = [("testapp", "0001_initial")]
    operations = [
        OPERATION,
        migrations.RunPython(fill, migrations.RunPython.noop),
    ]
'''


def _with_backfill(operation):
    from django.db.migrations.writer import OperationWriter

    text, imports = OperationWriter(operation, indentation=2).serialize()
    imports = "\n".join(sorted(imports | {"from django.db import migrations, models"}))
    return BACKFILL_TEMPLATE.replace("IMPORTS", imports).replace("OPERATION,", text.strip())


@pytest.mark.parametrize("operation", PYTHON_ONLY_CHANGES.values(), ids=PYTHON_ONLY_CHANGES.keys())
def test_allows_schema_operations_that_emit_no_sql(operation):
    assert_allows(RULE, source=_with_backfill(operation))


@pytest.mark.parametrize("operation", COLUMN_CHANGES.values(), ids=COLUMN_CHANGES.keys())
def test_flags_schema_operations_that_change_the_column(operation):
    assert_flags(RULE, source=_with_backfill(operation))


@pytest.mark.parametrize(("operation", "emits"), [
    *((op, False) for op in PYTHON_ONLY_CHANGES.values()),
    *((op, True) for op in COLUMN_CHANGES.values()),
], ids=[*PYTHON_ONLY_CHANGES, *COLUMN_CHANGES])
def test_no_sql_judgement_matches_djangos_schema_editor_on_postgresql(postgresql_server, tmp_path,
                                                                        operation, emits):
    """What sqlmigrate would print for the operation, collected on a real PostgreSQL database."""
    from django.db.migrations.executor import MigrationExecutor
    from django.test import override_settings

    from migration_pilot.analysis.emits import emits_sql
    from migration_pilot.analysis.walk import effective_operation_type
    from tests.databases import scratch_connection
    from tests.lint.helpers import write_package

    package = write_package({})
    with (scratch_connection("postgresql", postgresql_server, tmp_path) as connection,
          override_settings(MIGRATION_MODULES={"testapp": package})):
        executor = MigrationExecutor(connection)
        executor.migrate([("testapp", "0001_initial")])
        state = executor.loader.project_state(("testapp", "0001_initial"))
        new_state = state.clone()
        operation.state_forwards("testapp", new_state)
        with connection.schema_editor(collect_sql=True, atomic=False) as editor:
            operation.database_forwards("testapp", editor, state, new_state)
        collected = [sql for sql in editor.collected_sql if sql.strip()]

    judged = emits_sql(operation, effective_operation_type(operation), "testapp", state, 63,
                       "postgresql")

    assert (bool(collected), judged) == (emits, emits), collected
