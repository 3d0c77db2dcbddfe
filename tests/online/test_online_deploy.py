"""`pilot deploy` ships plain Django operations online on PostgreSQL (issue: zero downtime, item 0 and 5)."""

from __future__ import annotations

import threading
import time

import pytest

from migration_pilot.online.statements import check_name
from tests.databases import admin_connection, scratch_database
from tests.pipeline.project import DeployProject, database_settings, logging_backend, wait_until

# The project's own backend (tests.pipeline.project.LOGGING_BACKEND) writes down every statement the schema
# editor runs in the migration (the online steps after commit run on the connection itself, not in this log).

CUSTOMER = '''
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("shop", "0001_initial")]
    operations = [
        migrations.CreateModel("Customer", [("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                                            ("name", models.CharField(max_length=30))]),
    ]
'''

UNSAFE = '''
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("shop", "0002_customer")]
    operations = [
        migrations.AddIndex("invoice", models.Index(fields=["amount"], name="invoice_amount_idx")),
        migrations.AlterField("invoice", "number", models.CharField(max_length=30, unique=True)),
        migrations.AddConstraint("invoice", models.CheckConstraint(condition=models.Q(amount__gte=0),
                                                                   name="amount_gte_0")),
        migrations.AddField("invoice", "customer", models.ForeignKey("shop.Customer", models.SET_NULL, null=True)),
        migrations.AlterField("invoice", "note", models.CharField(max_length=50)),
    ]
'''

MODELS = ("number = models.CharField(max_length=30, unique=True)\n    amount = models.IntegerField(default=0)\n"
          "    note = models.CharField(max_length=50)\n"
          "    customer = models.ForeignKey('Customer', models.SET_NULL, null=True)\n\n"
          "    class Meta:\n"
          "        indexes = [models.Index(fields=['amount'], name='invoice_amount_idx')]\n"
          "        constraints = [models.CheckConstraint(condition=models.Q(amount__gte=0), name='amount_gte_0')]\n\n\n"
          "class Customer(models.Model):\n    name = models.CharField(max_length=30)")

WITH_NOTE = '''
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("shop", "0001_initial")]
    operations = [migrations.AddField("invoice", "note", models.CharField(max_length=50, null=True))]
'''


@pytest.fixture
def pg_project(postgresql_server, tmp_path, scratch_db_access):
    """(project, server, database, statement log): invoice with 2,000 rows on the project's own backend."""
    log = tmp_path / "schema-editor.log"
    with scratch_database(postgresql_server, "pilot_online") as name:
        engine = logging_backend(tmp_path / "project", log)
        project = DeployProject(tmp_path / "project", database_settings("postgresql", postgresql_server, name)
                                | {"ENGINE": engine})
        project.migration("0002_customer", CUSTOMER)
        project.models("number = models.CharField(max_length=30)\n    amount = models.IntegerField(default=0)\n\n\n"
                       "class Customer(models.Model):\n    name = models.CharField(max_length=30)")
        assert project.deploy().code == 0
        # 0001 left note out; add it by hand-written SQL as an older release would have: nullable, filled.
        with admin_connection(postgresql_server, name) as conn:
            conn.execute("INSERT INTO shop_invoice (number, amount) SELECT 'n' || g, g FROM generate_series(1, 2000) g")
        log.write_text("")
        yield project, postgresql_server, name, log


def _catalog(server, name):
    with admin_connection(server, name) as conn:
        constraints = dict(conn.execute(
            "SELECT conname, convalidated FROM pg_constraint WHERE conrelid = 'shop_invoice'::regclass").fetchall())
        indexes = dict(conn.execute(
            "SELECT indexrelid::regclass::text, indisvalid FROM pg_index"
            " WHERE indrelid = 'shop_invoice'::regclass").fetchall())
        columns = dict(conn.execute(
            "SELECT attname, attnotnull FROM pg_attribute WHERE attrelid = 'shop_invoice'::regclass"
            " AND attnum > 0 AND NOT attisdropped").fetchall())
    return constraints, indexes, columns


def _with_note_column(project, server, name):
    """Add the nullable note column (filled) through a deploy, so the next migration can make it NOT NULL."""
    project.migration("0003_note", WITH_NOTE.replace("0001_initial", "0002_customer"))
    project.models("number = models.CharField(max_length=30)\n    amount = models.IntegerField(default=0)\n"
                   "    note = models.CharField(max_length=50, null=True)\n\n\n"
                   "class Customer(models.Model):\n    name = models.CharField(max_length=30)")
    assert project.deploy().code == 0
    with admin_connection(server, name) as conn:
        conn.execute("UPDATE shop_invoice SET note = 'x'")


def test_unsafe_operations_ship_in_their_online_form(pg_project):
    project, server, name, log = pg_project
    _with_note_column(project, server, name)
    log.write_text("")
    project.migration("0004_unsafe", UNSAFE.replace("0002_customer", "0003_note"))
    project.models(MODELS)

    result = project.deploy()

    assert result.code == 0, result.out + result.err
    assert "Verified: the live schema matches the migrations." in result.out
    for step in ("build index invoice_amount_idx on shop_invoice concurrently",
                 "attach unique index shop_invoice_number_", "validate check constraint amount_gte_0",
                 "validate foreign key shop_invoice_customer_id_", "set shop_invoice.note NOT NULL"):
        assert f"online: {step}" in result.out
    # What the migration ran in its transaction (the verify stage's shadow build follows it in the log).
    in_transaction = log.read_text().split('CREATE TABLE "')[0]
    assert "CREATE INDEX" not in in_transaction and "SET NOT NULL" not in in_transaction
    assert "UNIQUE (" not in in_transaction
    assert "CHECK (amount >= 0) NOT VALID" in in_transaction and "NOT VALID" in in_transaction.split("FOREIGN KEY")[1]
    constraints, indexes, columns = _catalog(server, name)
    assert all(constraints.values()), constraints  # every constraint validated in the end
    assert check_name("shop_invoice", "note") not in constraints
    assert all(indexes.values()) and "invoice_amount_idx" in indexes
    assert columns["note"] is True


def test_writers_go_on_while_the_index_build_waits(pg_project):
    project, server, name, _log = pg_project
    project.migration("0003_index", '''
        from django.db import migrations, models


        class Migration(migrations.Migration):
            dependencies = [("shop", "0002_customer")]
            operations = [migrations.AddIndex("invoice", models.Index(fields=["amount"], name="amount_idx"))]
        ''')
    project.models("number = models.CharField(max_length=30)\n    amount = models.IntegerField(default=0)\n\n"
                   "    class Meta:\n        indexes = [models.Index(fields=['amount'], name='amount_idx')]\n\n\n"
                   "class Customer(models.Model):\n    name = models.CharField(max_length=30)")
    with admin_connection(server, name) as writer, admin_connection(server, name) as other:
        writer.execute("BEGIN")
        writer.execute("INSERT INTO shop_invoice (number, amount) VALUES ('open', 1)")  # uncommitted writer
        deploy = project.start("deploy", "--no-backup", "--blocker-wait", "0")
        wait_until(lambda: other.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND application_name = 'migration-pilot deploy'"
            " AND query LIKE 'CREATE INDEX CONCURRENTLY%%' AND wait_event_type = 'Lock'").fetchone()[0] == 1)

        # The build waits for the open writer, but takes no lock that makes other writers queue.
        other.execute("SET lock_timeout = '2s'")
        started = time.monotonic()
        other.execute("INSERT INTO shop_invoice (number, amount) VALUES ('meanwhile', 2)")
        waited = time.monotonic() - started
        writer.execute("COMMIT")
        out, err = deploy.communicate(timeout=120)

    assert waited < 1.0
    assert deploy.returncode == 0, out + err
    assert _catalog(server, name)[1]["amount_idx"] is True


def test_a_unique_index_that_meets_duplicates_undoes_the_whole_migration(pg_project):
    project, server, name, _log = pg_project
    with admin_connection(server, name) as conn:
        conn.execute("UPDATE shop_invoice SET number = 'same' WHERE id <= 2")
    project.migration("0003_unique", '''
        from django.db import migrations, models


        class Migration(migrations.Migration):
            dependencies = [("shop", "0002_customer")]
            operations = [
                migrations.AddField("invoice", "note", models.CharField(max_length=50, null=True)),
                migrations.AlterField("invoice", "number", models.CharField(max_length=30, unique=True)),
            ]
        ''')
    project.models("number = models.CharField(max_length=30, unique=True)\n    amount = models.IntegerField(default=0)\n"
                   "    note = models.CharField(max_length=50, null=True)\n\n\n"
                   "class Customer(models.Model):\n    name = models.CharField(max_length=30)")

    result = project.deploy()

    assert result.code == 3, result.out + result.err
    assert "its transactional part had committed and was undone" in result.out
    constraints, indexes, columns = _catalog(server, name)
    assert "note" not in columns  # the AddField that had committed is gone again
    assert not any("number" in index for index in indexes) or all(indexes.values())
    assert not [i for i, valid in indexes.items() if not valid]  # no INVALID index left behind
    assert [m for m in project.history()[0]["migrations"] if m["outcome"] == "applied"] == []


def test_not_null_over_existing_nulls_fails_and_leaves_the_column_as_it_was(pg_project):
    project, server, name, _log = pg_project
    _with_note_column(project, server, name)
    with admin_connection(server, name) as conn:
        conn.execute("UPDATE shop_invoice SET note = NULL WHERE id = 1")
    project.migration("0004_required", '''
        from django.db import migrations, models


        class Migration(migrations.Migration):
            dependencies = [("shop", "0003_note")]
            operations = [migrations.AlterField("invoice", "note", models.CharField(max_length=50))]
        ''')
    project.models("number = models.CharField(max_length=30)\n    amount = models.IntegerField(default=0)\n"
                   "    note = models.CharField(max_length=50)\n\n\n"
                   "class Customer(models.Model):\n    name = models.CharField(max_length=30)")

    result = project.deploy()

    assert result.code == 3, result.out + result.err
    assert "validate the NOT NULL check on shop_invoice.note failed" in result.out
    constraints, _indexes, columns = _catalog(server, name)
    assert columns["note"] is False
    assert check_name("shop_invoice", "note") not in constraints


def test_lock_queue_protection_behind_a_long_reader(pg_project):
    """A reader holds its lock for 3 s: traffic never waits much longer than one short lock timeout."""
    project, server, name, _log = pg_project
    project.migration("0003_note", WITH_NOTE.replace("0001_initial", "0002_customer"))
    project.models("number = models.CharField(max_length=30)\n    amount = models.IntegerField(default=0)\n"
                   "    note = models.CharField(max_length=50, null=True)\n\n\n"
                   "class Customer(models.Model):\n    name = models.CharField(max_length=30)")
    latencies: list[float] = []
    stop = threading.Event()

    def traffic():
        with admin_connection(server, name) as conn:
            while not stop.is_set():
                started = time.monotonic()
                conn.execute("SELECT number FROM shop_invoice WHERE id = 7")
                latencies.append(time.monotonic() - started)
                time.sleep(0.01)

    with admin_connection(server, name) as reader:
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM shop_invoice")  # holds ACCESS SHARE until it ends
        probe = threading.Thread(target=traffic)
        probe.start()
        deploy = project.start("deploy", "--no-backup", "--blocker-wait", "0", "--retry-delay", "200ms")
        time.sleep(3)
        reader.execute("COMMIT")
        out, err = deploy.communicate(timeout=120)
        stop.set()
        probe.join()

    assert deploy.returncode == 0, out + err
    assert "lock timeout on shop.0003_note; retry 1 in" in out
    assert max(latencies) < 1.0, max(latencies)
    run = project.history()[0]["migrations"][-1]
    assert run["retries"] >= 1


def test_no_online_runs_every_statement_as_django_writes_it(pg_project):
    project, server, name, log = pg_project
    project.migration("0003_index", '''
        from django.db import migrations, models


        class Migration(migrations.Migration):
            dependencies = [("shop", "0002_customer")]
            operations = [migrations.AddIndex("invoice", models.Index(fields=["amount"], name="amount_idx"))]
        ''')
    project.models("number = models.CharField(max_length=30)\n    amount = models.IntegerField(default=0)\n\n"
                   "    class Meta:\n        indexes = [models.Index(fields=['amount'], name='amount_idx')]\n\n\n"
                   "class Customer(models.Model):\n    name = models.CharField(max_length=30)")

    refused = project.deploy("--no-online")
    forced = project.deploy("--no-online", "--fail-on", "never")

    assert refused.code == 1 and "Refused: 1 lint finding(s)" in refused.out
    assert forced.code == 0, forced.out + forced.err
    assert "online:" not in forced.out
    assert 'CREATE INDEX "amount_idx" ON "shop_invoice" ("amount")' in log.read_text()


def test_plan_shows_the_online_form_and_why(pg_project):
    project, _server, _name, _log = pg_project
    project.migration("0003_index", '''
        from django.db import migrations, models


        class Migration(migrations.Migration):
            dependencies = [("shop", "0002_customer")]
            operations = [migrations.AddIndex("invoice", models.Index(fields=["amount"], name="amount_idx"))]
        ''')

    result = project.run("plan")

    assert result.code == 0, result.err
    assert "(pilot deploy runs it in its online form)" in result.out
    assert "online: CREATE INDEX holds a SHARE lock on shop_invoice (writes wait)" in result.out
    assert "sql> -- after the migration's transaction commits (online form):" in result.out
    assert "sql> CREATE INDEX CONCURRENTLY IF NOT EXISTS amount_idx ON shop_invoice (amount);" in result.out


def test_non_atomic_migration_runs_the_online_steps_in_place(pg_project):
    project, server, name, _log = pg_project
    project.migration("0003_index", '''
        from django.db import migrations, models


        class Migration(migrations.Migration):
            atomic = False
            dependencies = [("shop", "0002_customer")]
            operations = [
                migrations.AddIndex("invoice", models.Index(fields=["number"], name="number_idx")),
                migrations.AddConstraint("invoice", models.CheckConstraint(condition=models.Q(amount__gte=0),
                                                                           name="amount_gte_0")),
            ]
        ''')
    project.models("number = models.CharField(max_length=30)\n    amount = models.IntegerField(default=0)\n\n"
                   "    class Meta:\n        indexes = [models.Index(fields=['number'], name='number_idx')]\n"
                   "        constraints = [models.CheckConstraint(condition=models.Q(amount__gte=0),"
                   " name='amount_gte_0')]\n\n\n"
                   "class Customer(models.Model):\n    name = models.CharField(max_length=30)")

    result = project.deploy()

    assert result.code == 0, result.out + result.err
    assert result.out.index("online: build index number_idx") < result.out.index("online: validate check")
    constraints, indexes, _columns = _catalog(server, name)
    assert indexes["number_idx"] is True and constraints["amount_gte_0"] is True


def test_not_null_column_keeps_its_default_for_the_running_code_until_the_post_phase(pg_project):
    project, server, name, _log = pg_project
    project.migration("0003_qty", '''
        from django.db import migrations, models


        class Migration(migrations.Migration):
            dependencies = [("shop", "0002_customer")]
            operations = [migrations.AddField("invoice", "qty", models.IntegerField(default=1))]
        ''')
    project.models("number = models.CharField(max_length=30)\n    amount = models.IntegerField(default=0)\n"
                   "    qty = models.IntegerField(default=1)\n\n\n"
                   "class Customer(models.Model):\n    name = models.CharField(max_length=30)")
    old_code_insert = "INSERT INTO shop_invoice (number, amount) VALUES ('old code', 5) RETURNING qty"

    deployed = project.deploy()
    verified = project.run("verify")
    with admin_connection(server, name) as conn:
        (kept,) = conn.execute(old_code_insert).fetchone()
    post = project.deploy("--phase", "post")
    again = project.deploy("--phase", "post")
    verified_after = project.run("verify")
    with admin_connection(server, name) as conn, pytest.raises(Exception, match="null value in column"):
        conn.execute(old_code_insert)

    assert deployed.code == 0, deployed.out + deployed.err
    assert "kept the database default of shop_invoice.qty for the code still running" in deployed.out
    assert kept == 1
    assert verified.code == 0, verified.out + verified.err
    assert "kept by pilot deploy" in verified.out
    assert post.code == 0 and "dropped the default of shop_invoice.qty" in post.out, post.out + post.err
    assert again.code == 0 and "nothing to do" in again.out
    assert verified_after.code == 0 and "kept by pilot deploy" not in verified_after.out


BIGINT = '''
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("shop", "0003_amount_index")]
    operations = [migrations.AlterField("invoice", "amount", models.BigIntegerField(default=0, db_index=True))]
'''


def test_integer_column_widened_by_an_online_swap_while_writers_go_on(pg_project):
    project, server, name, _log = pg_project
    project.migration("0003_amount_index", '''
        from django.db import migrations, models


        class Migration(migrations.Migration):
            dependencies = [("shop", "0002_customer")]
            operations = [migrations.AlterField("invoice", "amount", models.IntegerField(default=0, db_index=True))]
        ''')
    fields = "number = models.CharField(max_length=30)\n    amount = models.{}(default=0, db_index=True)\n\n\n" \
             "class Customer(models.Model):\n    name = models.CharField(max_length=30)"
    project.models(fields.format("IntegerField"))
    assert project.deploy().code == 0
    project.migration("0004_bigint", BIGINT)
    project.models(fields.format("BigIntegerField"))
    errors: list[str] = []
    written: list[int] = []
    stop = threading.Event()

    def writers():
        with admin_connection(server, name) as conn:
            while not stop.is_set():
                try:
                    (key,) = conn.execute("INSERT INTO shop_invoice (number, amount) VALUES ('w', 7) RETURNING id"
                                          ).fetchone()
                    conn.execute("UPDATE shop_invoice SET amount = amount + 1 WHERE id = %s", [key - 1000])
                    written.append(key)
                except Exception as exc:  # any error the application would see
                    errors.append(str(exc))
                time.sleep(0.005)

    thread = threading.Thread(target=writers)
    thread.start()
    plan = project.run("plan")
    result = project.deploy()
    stop.set()
    thread.join()

    assert result.code == 0, result.out + result.err
    assert "online: changing shop_invoice.amount to bigint rewrites the table" in plan.out
    assert "online: swapped shop_invoice.amount to bigint" in result.out
    assert "Verified: the live schema matches the migrations." in result.out
    assert errors == [] and written
    with admin_connection(server, name) as conn:
        kind, not_null = conn.execute("SELECT format_type(atttypid, atttypmod), attnotnull FROM pg_attribute"
                                      " WHERE attrelid = 'shop_invoice'::regclass AND attname = 'amount'").fetchone()
        mismatched = conn.execute("SELECT count(*) FROM shop_invoice WHERE number = 'w' AND amount < 7").fetchone()
        leftovers = conn.execute("SELECT count(*) FROM pg_trigger WHERE tgrelid = 'shop_invoice'::regclass"
                                 " AND NOT tgisinternal").fetchone()
        # Rows from before the deploy kept their values (writers only ever add 1 to them).
        lost = conn.execute("SELECT count(*) FROM shop_invoice WHERE number LIKE 'n%%'"
                            " AND amount < substr(number, 2)::int").fetchone()
        kept = conn.execute("SELECT count(*) FROM shop_invoice WHERE number LIKE 'n%%'").fetchone()
    assert (kind, not_null) == ("bigint", True)
    assert mismatched == (0,) and leftovers == (0,)
    assert lost == (0,) and kept == (2000,)


@pytest.mark.parametrize("old, new, rewrites", [
    ("integer", "bigint", True),
    ("integer", "numeric(12, 2)", True),
    ("character varying(30)", "character varying(60)", False),
    ("character varying(60)", "character varying(30)", True),
    ("character varying(30)", "text", False),
    ("numeric(10, 2)", "numeric(12, 2)", False),
])
def test_postgresql_itself_says_which_type_changes_rewrite_the_table(postgresql_server, old, new, rewrites):
    from django.db import transaction

    from migration_pilot.online.swap import rewrites_table
    from tests.databases import django_connection

    with (scratch_database(postgresql_server, "pilot_probe") as name,
          django_connection(postgresql_server, name) as conn,
          transaction.atomic(using=conn.alias)):  # as in a migration's transaction
        answer = rewrites_table(conn, old.split("(")[0], old, new)
        with conn.cursor() as cursor:  # the probe left nothing behind, and the transaction is usable
            cursor.execute("SELECT count(*) FROM pg_class WHERE relname = 'pilot_rewrite_probe'")
            left = cursor.fetchone()

    assert answer is rewrites
    assert left == (0,)


def test_any_rewriting_type_change_is_swapped_and_a_catalog_only_one_runs_plain(pg_project):
    project, server, name, _log = pg_project
    project.migration("0003_types", '''
        from django.db import migrations, models


        class Migration(migrations.Migration):
            dependencies = [("shop", "0002_customer")]
            operations = [
                migrations.AlterField("invoice", "amount", models.DecimalField(max_digits=12, decimal_places=2,
                                                                               default=0)),
                migrations.AlterField("invoice", "number", models.CharField(max_length=60)),
            ]
        ''')
    project.models("number = models.CharField(max_length=60)\n"
                   "    amount = models.DecimalField(max_digits=12, decimal_places=2, default=0)\n\n\n"
                   "class Customer(models.Model):\n    name = models.CharField(max_length=30)")

    plan = project.run("plan")
    result = project.deploy()

    assert result.code == 0, result.out + result.err
    assert "online: changing shop_invoice.amount to numeric(12, 2) rewrites the table" in plan.out
    assert "shop_invoice.number" not in plan.out.split("online:", 1)[-1].split("\n")[0]
    assert "online: swapped shop_invoice.amount to numeric(12, 2)" in result.out
    assert "swapped shop_invoice.number" not in result.out
    assert "Verified: the live schema matches the migrations." in result.out
    with admin_connection(server, name) as conn:
        types = dict(conn.execute("SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute WHERE"
                                  " attrelid = 'shop_invoice'::regclass AND attname IN ('amount', 'number')"
                                  ).fetchall())
        lost = conn.execute("SELECT count(*) FROM shop_invoice WHERE amount <> substr(number, 2)::numeric"
                            " AND number LIKE 'n%%'").fetchone()
    assert types == {"amount": "numeric(12,2)", "number": "character varying(60)"}
    assert lost == (0,)


def test_rollback_runs_the_reverse_in_its_online_form(pg_project):
    """Rolling back a RemoveIndex re-creates the index CONCURRENTLY, as a deploy would build it."""
    project, server, name, log = pg_project
    project.migration("0003_index", '''
        from django.db import migrations, models


        class Migration(migrations.Migration):
            atomic = False
            dependencies = [("shop", "0002_customer")]
            operations = [migrations.AddIndex("invoice", models.Index(fields=["amount"], name="amount_idx"))]
        ''')
    fields = ("number = models.CharField(max_length=30)\n    amount = models.IntegerField(default=0)\n{meta}\n\n"
              "class Customer(models.Model):\n    name = models.CharField(max_length=30)")
    project.models(fields.format(meta="\n    class Meta:\n        indexes = [models.Index(fields=['amount'],"
                                      " name='amount_idx')]\n"))
    assert project.deploy().code == 0
    project.models(fields.format(meta=""))
    project.migration("0004_drop_index", '''
        from django.db import migrations


        class Migration(migrations.Migration):
            dependencies = [("shop", "0003_index")]
            operations = [migrations.RemoveIndex("invoice", "amount_idx")]
        ''')
    assert project.deploy("--fail-on", "never").code == 0
    log.write_text("")

    rollback = project.run("rollback", "--no-backup")
    out, err = rollback.out, rollback.err
    statements = log.read_text()

    assert rollback.code == 0, out + err
    assert "online: build index amount_idx on shop_invoice concurrently" in out, out
    assert 'CREATE INDEX "amount_idx"' not in statements  # never the blocking build
    assert _catalog(server, name)[1].get("amount_idx") is True  # valid


def test_rollback_behind_a_long_reader_retries_its_lock_timeouts(pg_project):
    """The reverse needs ACCESS EXCLUSIVE (DROP COLUMN): it times out behind the reader and retries, never queues."""
    project, server, name, _log = pg_project
    _with_note_column(project, server, name)

    with admin_connection(server, name) as reader:
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM shop_invoice")  # holds ACCESS SHARE until it ends
        rollback = project.start("rollback", "--no-backup", "--accept-data-loss", "--blocker-wait", "0",
                                 "--retry-delay", "200ms")
        # Until the rollback's DDL has been seen waiting behind the reader (a fixed sleep lost the race on a
        # loaded machine), then long enough for that wait to time out.
        with admin_connection(server, name) as watcher:
            wait_until(lambda: watcher.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND application_name LIKE 'migration-pilot%%' AND wait_event_type = 'Lock'").fetchone()[0] > 0,
                timeout=60, interval=0.02)
        time.sleep(0.5)
        reader.execute("COMMIT")
        out, err = rollback.communicate(timeout=120)

    assert rollback.returncode == 0, out + err
    assert "lock timeout on shop.0003_note; retry 1 in" in out
    assert "note" not in _catalog(server, name)[2]
