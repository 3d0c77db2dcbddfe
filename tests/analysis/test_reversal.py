"""classify_reverse() on real migrations of the test app, read by Django's loader and the analysis walk.

Static cases need no database; the counted cases apply the migration to a real
database (SQLite, PostgreSQL, MariaDB), write rows, and classify the reverse as
`pilot rollback` would meet it.
"""

from __future__ import annotations

import pytest
from django.db import migrations, models
from django.db.migrations.executor import MigrationExecutor
from django.test import override_settings

from migration_pilot.analysis import walk
from migration_pilot.analysis.reversal import EXACT, IMPOSSIBLE, LOSSY, LiveData, Reversal, classify_reverse
from migration_pilot.loader import load_graph
from tests.databases import scratch_connection
from tests.lint.helpers import migration_source, write_package

CHANGE = ("testapp", "0002_change")


def forwards(apps, schema_editor):
    pass


def backwards(apps, schema_editor):
    pass


class Collector:
    def __init__(self, live):
        self.live = live
        self.found: list[Reversal] = []

    def start_migration(self, visit):
        pass

    def end_migration(self, visit):
        pass

    def visit_operation(self, visit):
        self.found.append(classify_reverse(visit.operation, visit.migration.app_label, visit.state, live=self.live))


def classify(operations, *, live=None, package=None) -> list[Reversal]:
    """The reversal of each operation of testapp.0002_change (state before each from the walk)."""
    package = package or write_package({"0002_change": migration_source(operations)})
    with override_settings(MIGRATION_MODULES={"testapp": package}):
        collector = Collector(live)
        walk(load_graph(), collector, max_name_length=63, should_visit=lambda key: key == CHANGE)
    return collector.found


def one(operation, **kwargs) -> Reversal:
    (found,) = classify([operation], **kwargs)
    return found


def test_add_field_reverse_drops_the_column_with_its_data():
    found = one(migrations.AddField("invoice", "note", models.CharField(max_length=50, null=True)))

    assert found == Reversal(LOSSY, "drops testapp_invoice.note with any data written to it")
    assert found.loses_data
    assert found.describe() == "lossy — drops testapp_invoice.note with any data written to it"


def test_remove_field_reverse_recreates_it_empty():
    found = one(migrations.RemoveField("invoice", "status"))

    assert found == Reversal(LOSSY, "re-creates testapp_invoice.status empty (the values it held are not restored)")


def test_remove_not_null_field_without_default_may_fail():
    found = one(migrations.RemoveField("invoice", "amount"))

    assert found.kind == LOSSY
    assert found.what.endswith("; it fails if the table has rows (NOT NULL, no default)")


def test_delete_model_reverse_recreates_an_empty_table():
    found = one(migrations.DeleteModel("Invoice"))

    assert found == Reversal(LOSSY, "re-creates table testapp_invoice empty (its rows are not restored)")


def test_create_model_reverse_drops_the_table():
    create = migrations.CreateModel("Refund", [("id", models.BigAutoField(primary_key=True))])

    assert one(create) == Reversal(LOSSY, "drops table testapp_refund with any rows written to it")


def test_m2m_reverse_drops_the_link_table():
    found = one(migrations.AddField("invoice", "tags", models.ManyToManyField("testapp.customer")))

    assert found == Reversal(LOSSY, "drops table testapp_invoice_tags with any links written to it")


@pytest.mark.parametrize("operation", [
    migrations.RenameField("invoice", "number", "reference"),
    migrations.AddIndex("invoice", models.Index(fields=["number"], name="invoice_number_idx")),
    migrations.AlterField("invoice", "number", models.CharField(max_length=10)),  # reverse widens
    migrations.AlterModelOptions("invoice", {"ordering": ["number"]}),
    migrations.RenameModel("Invoice", "Bill"),
], ids=lambda op: type(op).__name__)
def test_schema_only_reverses_are_exact(operation):
    found = one(operation)

    assert found.kind == EXACT and not found.loses_data


def test_run_python_without_reverse_is_impossible():
    found = one(migrations.RunPython(forwards))

    assert found == Reversal(IMPOSSIBLE, "RunPython forwards has no reverse_code")


def test_run_python_noop_reverse_undoes_nothing():
    found = one(migrations.RunPython(forwards, migrations.RunPython.noop))

    assert found == Reversal(LOSSY, "RunPython forwards: its data changes are not undone (reverse_code is"
                                    " RunPython.noop)")


def test_run_python_with_reverse_is_exact_on_its_word():
    found = one(migrations.RunPython(forwards, backwards))

    assert found == Reversal(EXACT, "runs backwards, which migration_pilot cannot inspect")


@pytest.mark.parametrize("reverse, kind", [(None, IMPOSSIBLE), (migrations.RunSQL.noop, LOSSY),
                                           ("UPDATE testapp_invoice SET status = NULL", EXACT)])
def test_run_sql(reverse, kind):
    found = one(migrations.RunSQL("UPDATE testapp_invoice SET status = 'x'", reverse))

    assert found.kind == kind


def test_alter_field_reverse_narrowing_is_lossy():
    widened, bigger, nullable = classify([
        migrations.AlterField("invoice", "number", models.CharField(max_length=100)),
        migrations.AlterField("order", "quantity", models.BigIntegerField(default=1)),
        migrations.AlterField("invoice", "amount", models.DecimalField(decimal_places=2, max_digits=10, null=True)),
    ])

    assert widened == Reversal(LOSSY, "values of testapp_invoice.number longer than 30 characters are truncated or"
                                      " refused")
    assert bigger == Reversal(LOSSY, "values of testapp_order.quantity outside IntegerField's range are refused")
    assert nullable == Reversal(LOSSY, "setting testapp_invoice.amount NOT NULL again fails if it holds NULLs")


def test_separate_database_and_state_judges_its_database_operations():
    found = one(migrations.SeparateDatabaseAndState(
        database_operations=[migrations.RemoveField("invoice", "status")],
        state_operations=[migrations.RemoveField("invoice", "status")],
    ))

    assert found.kind == LOSSY and "testapp_invoice.status" in found.what


def test_each_operation_meets_the_state_the_earlier_ones_left():
    add, remove = classify([
        migrations.AddField("invoice", "note", models.TextField(null=True)),
        migrations.RemoveField("invoice", "note"),
    ])

    assert add.kind == remove.kind == LOSSY
    assert remove.what.startswith("re-creates testapp_invoice.note empty")


APPLIED = [
    migrations.AddField("invoice", "note", models.CharField(max_length=50, null=True)),
    migrations.AddField("invoice", "flag", models.IntegerField(default=0)),
    migrations.AlterField("invoice", "number", models.CharField(max_length=100)),
    migrations.AlterField("order", "quantity", models.BigIntegerField(default=1)),
    migrations.AlterField("invoice", "amount", models.DecimalField(decimal_places=2, max_digits=10, null=True)),
    migrations.RemoveField("invoice", "status"),
]


@pytest.fixture(params=["sqlite", "postgresql", "mysql"])
def migrated(request, tmp_path, scratch_db_access):
    """(LiveData, package) on a real database with testapp.0002_change (APPLIED) applied and rows written."""
    vendor = request.param
    server = None if vendor == "sqlite" else request.getfixturevalue(f"{vendor}_server")
    package = write_package({"0002_change": migration_source(APPLIED)})
    with scratch_connection(vendor, server, tmp_path) as connection, \
            override_settings(MIGRATION_MODULES={"testapp": package}):
        executor = MigrationExecutor(connection)
        executor.migrate([CHANGE])
        apps = executor.loader.project_state(CHANGE).apps
        customer = apps.get_model("testapp", "Customer").objects.using(connection.alias).create(name="c", email="e")
        order = apps.get_model("testapp", "Order").objects.using(connection.alias).create(
            customer=customer, quantity=3_000_000_000)
        invoice = apps.get_model("testapp", "Invoice").objects.using(connection.alias)
        invoice.create(order=order, number="x" * 40, amount=None, note="a", flag=0)
        invoice.create(order=order, number="short", amount=None, note="b", flag=7)
        invoice.create(order=order, number="short", amount=1, note=None, flag=0)
        yield LiveData(connection), package


def test_counts_what_the_rollback_would_lose(migrated):
    live, package = migrated
    vendor = live.vendor

    note, flag, number, quantity, amount, status = classify(APPLIED, live=live, package=package)

    assert note == Reversal(LOSSY, "drops testapp_invoice.note (2 non-null values)", 2)
    assert flag == Reversal(LOSSY, "drops testapp_invoice.flag (1 value other than the default 0)", 1)
    assert amount == Reversal(IMPOSSIBLE, "setting testapp_invoice.amount NOT NULL again fails on its 2 NULLs", 2)
    # The column is gone, the table has rows: the values it held cannot come back.
    assert status.what.startswith("re-creates testapp_invoice.status empty (the values of its 3 rows")
    assert status.count == 3 and status.loses_data
    if vendor == "sqlite":  # no length limits and 64-bit integers for every integer column
        assert number.kind == EXACT and quantity.kind == EXACT
    else:
        assert number == Reversal(LOSSY, "testapp_invoice.number holds 1 value longer than 30 characters:"
                                         " truncated or refused", 1)
        assert quantity == Reversal(LOSSY, "testapp_order.quantity holds 1 value outside IntegerField's range"
                                           " (-2,147,483,648..2,147,483,647): refused", 1)


def test_nothing_to_lose_needs_no_consent(migrated):
    live, package = migrated
    with live.connection.cursor() as cursor:
        cursor.execute("UPDATE testapp_invoice SET note = NULL")

    note, *_ = classify(APPLIED, live=live, package=package)

    assert note == Reversal(LOSSY, "drops testapp_invoice.note (no non-null values in it)", 0)
    assert not note.loses_data
