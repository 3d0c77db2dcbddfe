import pytest
from django.db import migrations, transaction
from django.db.migrations.executor import MigrationExecutor
from django.test import override_settings

from tests.databases import scratch_connection
from tests.lint.helpers import assert_allows, assert_flags, lint_one, write_package

RULE = "unbatched-backfill"


def migration(body, *, atomic=True, operations="migrations.RunPython(migrate_data, migrations.RunPython.noop)",
              top=""):
    flag = "" if atomic else "    atomic = False\n"
    return f'''from django.db import migrations, models, transaction
{top}

def migrate_data(apps, schema_editor):
    # Get historical model
    Order = apps.get_model("testapp", "Order")
{body}


class Migration(migrations.Migration):
{flag}    dependencies = [("testapp", "0001_initial")]
    operations = [{operations}]
'''


RUNBOOK_LOOP = '''
    # Perform data migration
    for order in Order.objects.all():
        # Transform data
        order.note = f"status was {order.status}"
        order.save()'''
UPDATE_ALL = '    Order.objects.all().update(status="pending")'


def test_flags_the_runbook_loop():
    assert_flags(RULE, source=migration(RUNBOOK_LOOP))


@pytest.mark.parametrize("queryset", [
    "Order.objects.iterator()", "Order.objects.all().iterator(chunk_size=500)",
    "Order.objects.order_by('pk')", "Order._default_manager.all()",
    "Order.objects.select_related('customer').all()",
])
def test_flags_every_whole_table_queryset(queryset):
    body = f"    for order in {queryset}:\n        order.quantity += 1\n        order.save()"

    assert_flags(RULE, source=migration(body))


def test_flags_queryset_kept_in_a_variable():
    body = "    orders = Order.objects.all()\n    for order in orders:\n        order.quantity = 2\n        order.save()"

    assert_flags(RULE, source=migration(body))


@pytest.mark.parametrize("call", ['Order.objects.update(status="pending")', UPDATE_ALL.strip(),
                                  'count = Order.objects.using("default").update(quantity=1)'])
def test_flags_update_of_every_row(call):
    assert_flags(RULE, source=migration(f"    {call}"))


def test_flags_update_of_every_row_even_without_a_migration_transaction():
    assert_flags(RULE, source=migration(UPDATE_ALL, atomic=False))


def test_flags_save_loop_inside_an_atomic_block_of_a_non_atomic_migration():
    body = "    with transaction.atomic():\n" + "\n".join(
        "    " + line if line.strip() else line for line in RUNBOOK_LOOP.splitlines())

    assert_flags(RULE, source=migration(body, atomic=False))


def test_flags_save_loop_of_run_python_with_atomic_true():
    operations = "migrations.RunPython(migrate_data, migrations.RunPython.noop, atomic=True)"

    assert_flags(RULE, source=migration(RUNBOOK_LOOP, atomic=False, operations=operations))


@pytest.mark.parametrize("queryset", [
    'Order.objects.filter(note="")', 'Order.objects.exclude(status="done")',
    "Order.objects.all()[:1000]", "Order.objects.filter(pk__gt=10).iterator()", "batch",
])
def test_allows_filtered_or_sliced_querysets(queryset):
    body = f"    batch = []\n    for order in {queryset}:\n        order.quantity = 2\n        order.save()"

    assert_allows(RULE, source=migration(body))


def test_allows_filtered_update():
    assert_allows(RULE, source=migration('    Order.objects.filter(status="new").update(status="pending")'))


def test_allows_loop_without_save():
    body = "    total = 0\n    for order in Order.objects.all():\n        total += order.quantity"

    assert_allows(RULE, source=migration(body))


def test_allows_save_loop_in_a_non_atomic_migration():
    assert_allows(RULE, source=migration(RUNBOOK_LOOP, atomic=False))


def test_allows_table_created_in_the_same_migration():
    operations = ('migrations.CreateModel("Ledger", [("id", models.BigAutoField(primary_key=True)),'
                  ' ("note", models.TextField(default=""))]), migrations.RunPython(migrate_data)')
    body = ('    Ledger = apps.get_model("testapp", "Ledger")\n'
            '    Ledger.objects.update(note="x")\n'
            "    for row in Ledger.objects.all():\n        row.save()")

    assert_allows(RULE, source=migration(body, operations=operations))


def test_allows_lambda_it_cannot_read():
    operations = "migrations.RunPython(lambda apps, editor: None)"

    assert_allows(RULE, source=migration("    pass", operations=operations))


def test_flags_run_sql_update_without_where():
    op = migrations.RunSQL("UPDATE testapp_order SET status = 'pending'", migrations.RunSQL.noop)

    assert_flags(RULE, [op])
    assert_flags(RULE, [op], atomic=False)


def test_allows_run_sql_update_with_where():
    op = migrations.RunSQL("UPDATE testapp_order SET status = 'pending' WHERE status = 'new'",
                           migrations.RunSQL.noop)

    assert_allows(RULE, [op])


def test_allows_run_sql_delete_and_update_of_a_new_table():
    ops = [migrations.RunSQL("DELETE FROM testapp_order", migrations.RunSQL.noop),
           migrations.RunSQL("CREATE TABLE testapp_audit (id int PRIMARY KEY, note text);"
                             " UPDATE testapp_audit SET note = ''", migrations.RunSQL.noop)]

    assert_allows(RULE, ops)


def test_flags_on_every_vendor():
    for vendor in ("postgresql", "mysql", "sqlite"):
        assert_flags(RULE, source=migration(RUNBOOK_LOOP), vendor=vendor)


def test_message_and_lock():
    (diagnostic,) = lint_one(RULE, source=migration(RUNBOOK_LOOP))

    assert diagnostic.message == (
        "RunPython migrate_data in testapp.0002_change saves every row of testapp_order in a"
        " single transaction: every row stays locked until commit, so writes to testapp_order"
        " wait, and the table bloats and replicas lag."
    )
    assert diagnostic.hint == (
        "Backfill in batches by primary key from a migration with atomic = False: one short"
        " transaction per batch, skipping rows already done."
    )
    assert diagnostic.lock.describe() == (
        "ROW EXCLUSIVE lock on testapp_order (blocks writes; scans the table)")


def test_messages_for_update_and_sql():
    (python,) = lint_one(RULE, source=migration(UPDATE_ALL))
    (raw,) = lint_one(RULE, [migrations.RunSQL("UPDATE testapp_order SET quantity = 1",
                                               migrations.RunSQL.noop)])

    assert python.message.startswith(
        "RunPython migrate_data in testapp.0002_change updates every row of testapp_order in"
        " one statement: every row stays locked until commit")
    assert raw.message == (
        "UPDATE without WHERE in testapp.0002_change rewrites every row of testapp_order in one"
        " transaction: every row stays locked until commit, so writes to testapp_order wait,"
        " and the table bloats and replicas lag."
    )


RUNBOOK_ALTERNATIVE = '''from django.db import migrations, models, transaction


BATCH_SIZE = 1000
RESUME_AFTER_PK = None


def migrate_data(apps, schema_editor):
    # Get historical model
    Order = apps.get_model("testapp", "Order")

    # Perform data migration
    db = schema_editor.connection.alias
    # To resume after a failure, set RESUME_AFTER_PK to the last pk printed.
    rows = Order.objects.using(db).order_by("pk")
    last_pk = RESUME_AFTER_PK
    done = 0
    while True:
        page = rows if last_pk is None else rows.filter(pk__gt=last_pk)
        batch = list(page[:BATCH_SIZE])
        if not batch:
            break
        with transaction.atomic(using=db):
            for order in batch:
                # Transform data
                order.note = f"status was {order.status}"
            Order.objects.using(db).bulk_update(batch, ["note"])
        last_pk = batch[-1].pk
        done += len(batch)
        print(f"migrate_data: {done} rows of testapp_order done, up to pk {last_pk}")


class Migration(migrations.Migration):
    atomic = False
    dependencies = [('testapp', '0001_initial')]
    operations = [
        migrations.RunPython(migrate_data, reverse_code=migrations.RunPython.noop),
    ]
'''


def test_safe_alternative_batches_the_users_own_loop():
    (diagnostic,) = lint_one(RULE, source=migration(RUNBOOK_LOOP))

    assert diagnostic.safe_alternative == RUNBOOK_ALTERNATIVE


def test_safe_alternative_skips_rows_already_done_when_a_field_tells():
    body = "    for invoice in Invoice.objects.all():\n        invoice.status = invoice.number[:3]\n        invoice.save()"
    source = migration(body).replace('Order = apps.get_model("testapp", "Order")',
                                     'Invoice = apps.get_model("testapp", "Invoice")')

    (diagnostic,) = lint_one(RULE, source=source)

    assert "testapp_invoice" in diagnostic.message
    assert 'rows = Invoice.objects.using(db).filter(status__isnull=True).order_by("pk")' in (
        diagnostic.safe_alternative)
    assert "RESUME_AFTER_PK" not in diagnostic.safe_alternative


def test_safe_alternative_for_update_excludes_rows_already_done():
    (diagnostic,) = lint_one(RULE, source=migration(UPDATE_ALL))

    alternative = diagnostic.safe_alternative
    assert 'rows = Order.objects.using(db).exclude(status="pending").order_by("pk")' in alternative
    assert 'Order.objects.using(db).filter(pk__in=batch).update(status="pending")' in alternative


def test_safe_alternative_for_sql_updates_primary_key_ranges():
    op = migrations.RunSQL("UPDATE testapp_order SET status = 'pending', note = '100%'",
                           migrations.RunSQL.noop)

    (diagnostic,) = lint_one(RULE, [op])

    assert ("UPDATE_BATCH = \"UPDATE testapp_order SET status = 'pending', note = '100%%' WHERE id"
            " BETWEEN %s AND %s AND (status <> 'pending' OR status IS NULL OR (note <> '100%%'"
            " OR note IS NULL))\"") in diagnostic.safe_alternative
    assert "def backfill_testapp_order(apps, schema_editor):" in diagnostic.safe_alternative


@pytest.mark.parametrize("source", [
    migration(RUNBOOK_LOOP), migration(UPDATE_ALL),
    migration("    pass", operations='migrations.RunSQL("UPDATE testapp_order SET quantity = 1", "")'),
], ids=["loop", "update", "sql"])
def test_safe_alternatives_are_not_flagged(source):
    (diagnostic,) = lint_one(RULE, source=source)

    for vendor in ("postgresql", "mysql", "sqlite"):
        assert_allows(RULE, source=diagnostic.safe_alternative, vendor=vendor)


ROWS = 2500


def _run_alternative(connection, alternative):
    package = write_package({"0002_change": alternative})
    with override_settings(MIGRATION_MODULES={"testapp": package}):
        MigrationExecutor(connection).migrate([("testapp", "0001_initial")])
        with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
            cursor.execute("INSERT INTO testapp_customer (name, email) VALUES ('c', 'c@example.com')")
            cursor.execute("SELECT id FROM testapp_customer")
            (customer,) = cursor.fetchone()
            cursor.executemany(
                "INSERT INTO testapp_order (customer_id, status, total, note, quantity)"
                " VALUES (%s, 'new', 0, '', 1)", [(customer,)] * ROWS)
        MigrationExecutor(connection).migrate([("testapp", "0002_change")])
        with connection.cursor() as cursor:
            cursor.execute("SELECT status, note, quantity, COUNT(*) FROM testapp_order"
                           " GROUP BY status, note, quantity")
            return cursor.fetchall()


@pytest.mark.parametrize("vendor", ["sqlite", "postgresql", "mysql"])
def test_safe_alternatives_run_on_real_databases(vendor, request, tmp_path, scratch_db_access, capsys):
    server = None if vendor == "sqlite" else request.getfixturevalue(f"{vendor}_server")
    cases = {
        "loop": (migration(RUNBOOK_LOOP), [("new", "status was new", 1, ROWS)]),
        "update": (migration(UPDATE_ALL), [("pending", "", 1, ROWS)]),
        "sql": (migration("    pass", operations=(
            "migrations.RunSQL(\"UPDATE testapp_order SET quantity = 5, note = '5%'\", \"\")")),
            [("new", "5%", 5, ROWS)]),
    }
    for name, (source, expected) in cases.items():
        (diagnostic,) = lint_one(RULE, source=source, vendor=vendor)
        (tmp_path / name).mkdir()
        with scratch_connection(vendor, server, tmp_path / name) as connection:
            rows = _run_alternative(connection, diagnostic.safe_alternative)

        assert [tuple(row) for row in rows] == expected, name
    printed = capsys.readouterr().out
    assert f"migrate_data: {ROWS} rows of testapp_order done" in printed
    assert "backfill_testapp_order: id up to 1000 of " in printed


def test_ignore_comment_suppresses():
    operations = ("\n        # pilot: ignore unbatched-backfill -- testapp_order has 40 rows\n"
                  "        migrations.RunPython(migrate_data, migrations.RunPython.noop)")

    assert_allows(RULE, source=migration(RUNBOOK_LOOP, operations=operations))


@pytest.mark.parametrize("statement", [
    'Order.objects.filter(note="").update(note="-")',
    "Order.objects.filter(note__isnull=True).update(note='-')",
    'Order.objects.exclude(note="-").update(note="-")',
], ids=["empty", "isnull", "exclude-new-value"])
def test_flags_update_filtered_to_the_rows_not_done_yet(statement):
    diagnostic = assert_flags(RULE, source=migration(f"    {statement}"))

    assert "updates every row of testapp_order still matching" in diagnostic.message
    assert "in one statement" in diagnostic.message


def test_filtered_update_fix_batches_with_the_users_filter():
    (diagnostic,) = lint_one(RULE, source=migration('    Order.objects.filter(note="").update(note="-")'))
    code = diagnostic.safe_alternative or ""

    assert 'rows = Order.objects.using(db).filter(note="").order_by("pk")' in code \
        or "rows = Order.objects.using(db).filter(note='').order_by(\"pk\")" in code
    assert ".filter(pk__in=batch).update(note=\"-\")" in code
    assert_allows(RULE, source=code)


def test_flags_bulk_update_loop_in_one_transaction():
    body = ("    batch = []\n"
            "    for order in Order.objects.all():\n"
            "        order.note = order.status\n"
            "        batch.append(order)\n"
            "    Order.objects.bulk_update(batch, ['note'], batch_size=500)")

    diagnostic = assert_flags(RULE, source=migration(body))

    assert "writes every row of testapp_order with bulk_update in a single transaction" in \
        diagnostic.message


def test_allows_bulk_update_loop_in_a_non_atomic_migration():
    body = ("    batch = []\n"
            "    for order in Order.objects.all():\n"
            "        order.note = order.status\n"
            "        batch.append(order)\n"
            "    Order.objects.bulk_update(batch, ['note'], batch_size=500)")

    assert_allows(RULE, source=migration(body, atomic=False))
