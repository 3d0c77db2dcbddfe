"""`pilot rehearse` end to end: a throwaway project on each vendor, the command in a subprocess."""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests.databases import admin_connection
from tests.pipeline.inspect_db import query
from tests.pipeline.project import ADD_NOTE, IRREVERSIBLE, NOTE_FIELDS

REMOVE_AMOUNT = '''
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("shop", "0002_note")]
    operations = [migrations.RemoveField("invoice", "amount")]
'''

DECLARED = REMOVE_AMOUNT.replace("class Migration(migrations.Migration):\n",
                                 "class Migration(migrations.Migration):\n"
                                 "    rehearse_lossy = \"amount is obsolete; its data is not needed back\"\n")

RELATED = '''
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("shop", "0001_initial")]
    operations = [
        migrations.CreateModel(
            name="Customer",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("email", models.EmailField(max_length=40, unique=True)),
                ("kind", models.CharField(max_length=3, choices=[("b2b", "B2B"), ("b2c", "B2C")])),
            ],
        ),
        migrations.CreateModel(
            name="Order",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("code", models.CharField(max_length=12, unique=True)),
                ("status", models.IntegerField(choices=[(1, "new"), (2, "paid"), (3, "sent")])),
                ("customer", models.ForeignKey("shop.customer", on_delete=models.CASCADE)),
                ("invoice", models.OneToOneField("shop.invoice", null=True, on_delete=models.SET_NULL)),
                ("total", models.DecimalField(max_digits=6, decimal_places=2)),
                ("note", models.CharField(max_length=20, null=True)),
            ],
            options={"unique_together": {("customer", "status")}},
        ),
    ]
'''

RELATED_MODELS = """
from django.db import models


class Invoice(models.Model):
    number = models.CharField(max_length=30)
    amount = models.IntegerField(default=0)


class Customer(models.Model):
    email = models.EmailField(max_length=40, unique=True)
    kind = models.CharField(max_length=3, choices=[("b2b", "B2B"), ("b2c", "B2C")])


class Order(models.Model):
    code = models.CharField(max_length=12, unique=True)
    status = models.IntegerField(choices=[(1, "new"), (2, "paid"), (3, "sent")])
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE)
    invoice = models.OneToOneField(Invoice, null=True, on_delete=models.SET_NULL)
    total = models.DecimalField(max_digits=6, decimal_places=2)
    note = models.CharField(max_length=20, null=True)

    class Meta:
        unique_together = [("customer", "status")]
"""

ADD_SHIPPED = '''
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("shop", "0002_related")]
    operations = [migrations.AddField("order", "shipped", models.BooleanField(default=False))]
'''


def _gone(vendor, server, live, scratch) -> bool:
    if vendor == "sqlite":
        return not os.path.exists(scratch)
    assert scratch != live
    with admin_connection(server) as conn:
        cursor = conn.cursor()
        if vendor == "postgresql":
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [scratch])
        else:
            cursor.execute("SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s", [scratch])
        found = cursor.fetchone()
        cursor.close()
    return found is None


def _drop(vendor, server, scratch) -> None:
    if vendor == "sqlite":
        Path(scratch).unlink(missing_ok=True)
        return
    with admin_connection(server) as conn:
        cursor = conn.cursor()
        cursor.execute(f"DROP DATABASE IF EXISTS {scratch}" + (" WITH (FORCE)" if vendor == "postgresql" else ""))
        cursor.close()


def _schema(vendor, server, live):
    if vendor == "sqlite":
        return sorted(r[0] for r in query(vendor, server, live, "SELECT name FROM sqlite_master WHERE type='table'"))
    if vendor == "postgresql":
        return sorted(r[0] for r in query(vendor, server, live, "SELECT column_name FROM information_schema.columns"
                                                                " WHERE table_name = 'shop_invoice'"))
    return sorted(r[0] for r in query(vendor, server, live, "SHOW COLUMNS FROM shop_invoice"))


def test_reversible_passes_and_remove_field_fails_unless_declared(deployable):
    project, vendor, server, live = deployable
    assert project.deploy().code == 0
    query(vendor, server, live, "INSERT INTO shop_invoice (number, amount) VALUES ('live', 7)")
    project.migration("0002_note", ADD_NOTE)
    project.models(NOTE_FIELDS)
    before = _schema(vendor, server, live)

    done = project.run("rehearse", "--rows", "40", "--format", "json")
    assert done.code == 0, done.err
    report = json.loads(done.out)
    [note] = report["migrations"]
    assert (note["name"], note["reversible"], note["lossless"], note["ok"]) == ("0002_note", True, True, True)
    assert note["tables"] == ["shop_invoice"]
    assert note["backward"]["seconds"] > 0 and note["forward_again"]["seconds"] > 0
    assert note["forward"]["longest_sql"]
    assert note["generated"]["shop_invoice"] >= 39
    assert _gone(vendor, server, live, report["scratch"])
    # The live database: schema untouched, only its own row, 0002 still pending, the rehearsal in its history.
    assert _schema(vendor, server, live) == before
    assert query(vendor, server, live, "SELECT number, amount FROM shop_invoice") == [("live", 7)]
    assert ("shop", "0002_note") not in {tuple(r) for r in query(vendor, server, live,
                                                                  "SELECT app, name FROM django_migrations")}
    rehearsal = next(r for r in project.history() if r["kind"] == "rehearsal")
    assert rehearsal["outcome"] == "succeeded"
    timings = {(m["name"], m["backwards"]): m["duration_s"] for m in rehearsal["migrations"]}
    assert set(timings) == {("0002_note", False), ("0002_note", True)}
    plan = project.run("plan", "--format", "json")
    assert plan.code == 0, plan.err
    [entry] = json.loads(plan.out)["migrations"]
    assert entry["estimated_s"] == timings[("0002_note", False)]

    project.migration("0003_drop_amount", REMOVE_AMOUNT)
    done = project.run("rehearse", "--rows", "40")
    assert done.code == 1, done.out + done.err
    assert "FAIL  shop.0003_drop_amount" in done.out
    assert "lost going backward: shop_invoice: values changed in amount" in done.out
    assert "ok  shop.0002_note" in done.out

    if vendor != "sqlite":  # the declaration is read from the migration, whatever the vendor: checked once
        return
    project.migration("0003_drop_amount", DECLARED)
    done = project.run("rehearse", "--rows", "40", "--format", "json")
    assert done.code == 0, done.out + done.err
    dropped = json.loads(done.out)["migrations"][1]
    assert dropped["declared"].startswith("amount is obsolete") and not dropped["lossless"]
    assert _gone(vendor, server, live, json.loads(done.out)["scratch"])


def test_irreversible_run_python_exits_1(deployable):
    project, vendor, server, live = deployable
    project.migration("0002_note", ADD_NOTE)
    project.models(NOTE_FIELDS)
    assert project.deploy().code == 0
    project.migration("0003_touch", IRREVERSIBLE)
    done = project.run("rehearse", "--rows", "10", "--format", "json")
    assert done.code == 1, done.err
    [touch] = json.loads(done.out)["migrations"]
    assert (touch["name"], touch["reversible"], touch["ok"], touch["backward"]) == ("0003_touch", False, False, None)
    assert _gone(vendor, server, live, json.loads(done.out)["scratch"])


def test_rows_are_valid_for_foreign_keys_unique_and_choices(deployable):
    project, vendor, server, live = deployable
    project.migration("0002_related", RELATED)
    (project.root / "shop" / "models.py").write_text(RELATED_MODELS)
    assert project.deploy().code == 0
    project.migration("0003_shipped", ADD_SHIPPED)
    scratch = f"{live}_kept" if vendor != "sqlite" else str(Path(live).with_name("kept.sqlite3"))
    try:
        done = project.run("rehearse", "--rows", "30", "--keep", "--scratch-name", scratch, "--format", "json")
        assert done.code == 0, done.out + done.err
        [shipped] = json.loads(done.out)["migrations"]
        assert shipped["generated"] == {"shop_customer": 30, "shop_invoice": 30, "shop_order": 30}
        assert shipped["lossless"]
        orders = query(vendor, server, scratch, "SELECT code, status, customer_id, invoice_id, total, note"
                                                " FROM shop_order")
        customers = query(vendor, server, scratch, "SELECT id, email, kind FROM shop_customer")
        invoices = {r[0] for r in query(vendor, server, scratch, "SELECT id FROM shop_invoice")}
        assert len(orders) == 30 and len(customers) == 30
        assert len({o[0] for o in orders}) == 30 and all(len(o[0]) <= 12 for o in orders)
        assert {o[1] for o in orders} <= {1, 2, 3}
        assert {o[2] for o in orders} <= {c[0] for c in customers}
        assert len({(o[2], o[1]) for o in orders}) == 30
        linked = [o[3] for o in orders if o[3] is not None]
        assert set(linked) <= invoices and len(linked) == len(set(linked))
        assert any(o[5] is None for o in orders) and any(o[5] is not None for o in orders)
        assert len({c[1] for c in customers}) == 30 and all("@" in c[1] and len(c[1]) <= 40 for c in customers)
        assert {c[2] for c in customers} == {"b2b", "b2c"}
    finally:
        _drop(vendor, server, scratch)


def test_bad_input_is_one_line_and_exit_2(deployable):
    project, vendor, server, live = deployable
    assert project.deploy().code == 0
    project.migration("0002_note", ADD_NOTE)
    cases = [(("--scratch-name", live), "is the live database")]
    cases += [] if vendor != "sqlite" else [  # the rest does not depend on the vendor: checked once
        (("--to", "nosuchapp", "0002_note"), "Unknown app 'nosuchapp'"),
        (("--to", "shop", "0099_nothing"), "Unknown migration shop.0099_nothing"),
        (("--to", "migration_pilot", "0002_note"), "belongs to shop"),
        (("--rows", "-1"), "Bad --rows -1"),
    ]
    for args, expected in cases:
        done = project.run("rehearse", *args)
        assert done.code == 2, (args, done.out, done.err)
        assert expected in done.err and len(done.err.strip().splitlines()) == 1, done.err
    if vendor == "sqlite":
        done = project.run("rehearse", "--scratch-name", os.path.relpath(live, project.root))
        assert done.code == 2 and "is the live database" in done.err, done.err
    assert ("shop", "0002_note") not in {tuple(r) for r in query(vendor, server, live,
                                                                  "SELECT app, name FROM django_migrations")}


WRITES_DEFAULT = '''
from django.db import migrations


def forward(apps, schema_editor):
    Invoice = apps.get_model("shop", "Invoice")
    Invoice.objects.create(number="from-migration", amount=1)  # no .using(): the default alias


def backward(apps, schema_editor):
    Invoice = apps.get_model("shop", "Invoice")
    Invoice.objects.filter(number="from-migration").delete()


class Migration(migrations.Migration):
    dependencies = [("shop", "0002_note")]
    operations = [migrations.RunPython(forward, backward)]
'''


def test_a_data_migration_without_using_writes_to_the_scratch_database(deployable):
    project, vendor, server, live = deployable
    project.migration("0002_note", ADD_NOTE)
    project.models(NOTE_FIELDS)
    assert project.deploy().code == 0
    project.migration("0003_writes", WRITES_DEFAULT)
    done = project.run("rehearse", "--rows", "5", "--format", "json")
    assert done.code == 0, done.out + done.err
    [writes] = json.loads(done.out)["migrations"]
    assert writes["ok"] and writes["tables"] == ["shop_invoice"]
    assert query(vendor, server, live, "SELECT count(*) FROM shop_invoice") == [(0,)]


def test_from_and_to_pick_the_range(tmp_path, scratch_db_access):
    from tests.pipeline.project import DeployProject, database_settings

    live = str(tmp_path / "db.sqlite3")
    project = DeployProject(tmp_path / "project", database_settings("sqlite", None, live))
    assert project.deploy().code == 0
    project.migration("0002_note", ADD_NOTE)
    project.migration("0003_drop_amount", REMOVE_AMOUNT)
    only_first = project.run("rehearse", "--rows", "5", "--to", "shop", "0002", "--format", "json")
    assert only_first.code == 0, only_first.err
    assert [m["name"] for m in json.loads(only_first.out)["migrations"]] == ["0002_note"]
    only_last = project.run("rehearse", "--rows", "5", "--from", "shop", "0003_drop_amount", "--format", "json")
    assert only_last.code == 1, only_last.err
    assert [m["name"] for m in json.loads(only_last.out)["migrations"]] == ["0003_drop_amount"]
    backwards = project.run("rehearse", "--from", "shop", "0003_drop_amount", "--to", "shop", "0002_note")
    assert backwards.code == 2 and "does not descend from --from" in backwards.err, backwards.err


def test_interrupted_rehearsal_drops_the_scratch_database(deployable):
    import signal
    import time

    from tests.pipeline.project import SLOW, wait_until

    project, vendor, server, live = deployable
    if vendor == "mysql":
        import pytest

        pytest.skip("the drop-on-interrupt path is vendor-independent; SQLite and PostgreSQL cover it")
    project.migration("0002_note", ADD_NOTE)
    project.models(NOTE_FIELDS)
    assert project.deploy().code == 0
    project.migration("0003_slow", SLOW.format(seconds=30))
    scratch = f"{live}_rehearse" if vendor != "sqlite" else str(Path(live).with_name("db_rehearse.sqlite3"))
    process = project.start("rehearse", "--rows", "5")
    try:
        wait_until(lambda: not _gone(vendor, server, live, scratch), timeout=60)
        time.sleep(2)  # inside the slow migration
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 130, (out, err)
    assert "interrupted" in err and "Traceback" not in err, err
    assert _gone(vendor, server, live, scratch)


def test_a_scratch_database_that_cannot_be_created_is_exit_2(postgresql_server, tmp_path, scratch_db_access):
    import uuid

    from tests.databases import scratch_database
    from tests.pipeline.project import DeployProject, database_settings

    role = f"pilot_rh_{uuid.uuid4().hex[:8]}"
    with admin_connection(postgresql_server) as conn:
        conn.cursor().execute(f"CREATE ROLE {role} LOGIN NOCREATEDB")
    try:
        with scratch_database(postgresql_server, "pilot_rh") as live:
            settings = {**database_settings("postgresql", postgresql_server, live), "USER": role}
            project = DeployProject(tmp_path / "project", settings)
            done = project.run("rehearse", "--rows", "5")
            assert done.code == 2, done.out + done.err
            assert "Cannot create the scratch database" in done.err and "permission denied" in done.err
            assert len(done.err.strip().splitlines()) == 1, done.err
            assert _gone("postgresql", postgresql_server, live, f"{live}_rehearse")
    finally:
        with admin_connection(postgresql_server) as conn:
            conn.cursor().execute(f"DROP ROLE IF EXISTS {role}")


def test_from_backup_rehearses_on_a_restore_of_the_backup(deployable):
    project, vendor, server, live = deployable
    assert project.deploy().code == 0
    query(vendor, server, live, "INSERT INTO shop_invoice (number, amount) VALUES ('backed-up', 7)")
    backup = project.run("backup", "--format", "json")
    assert backup.code == 0, backup.out + backup.err
    backup_id = json.loads(backup.out)["id"]
    query(vendor, server, live, "INSERT INTO shop_invoice (number, amount) VALUES ('after-backup', 8)")
    project.migration("0002_note", ADD_NOTE)
    project.models(NOTE_FIELDS)
    before = _schema(vendor, server, live)
    scratch = f"{live}_frombackup" if vendor != "sqlite" else str(Path(live).with_name("frombackup.sqlite3"))

    try:
        done = project.run("rehearse", "--from-backup", backup_id, "--rows", "20", "--keep",
                           "--scratch-name", scratch, "--format", "json")

        assert done.code == 0, done.out + done.err
        [note] = json.loads(done.out)["migrations"]
        assert (note["name"], note["ok"], note["generated"]) == ("0002_note", True, {"shop_invoice": 19})
        # The scratch database is the backup (its row, not the one written after it) plus generated rows.
        numbers = [r[0] for r in query(vendor, server, scratch, "SELECT number FROM shop_invoice")]
        assert len(numbers) == 20 and "backed-up" in numbers and "after-backup" not in numbers
        applied = {tuple(r) for r in query(vendor, server, scratch, "SELECT app, name FROM django_migrations")}
        assert ("shop", "0002_note") in applied
    finally:
        _drop(vendor, server, scratch)
    # The source: schema, rows and applied migrations untouched; the rehearsal only in its history.
    assert _schema(vendor, server, live) == before
    assert sorted(query(vendor, server, live, "SELECT number, amount FROM shop_invoice")) == [
        ("after-backup", 8), ("backed-up", 7)]
    assert ("shop", "0002_note") not in {tuple(r) for r in query(vendor, server, live,
                                                                  "SELECT app, name FROM django_migrations")}
    assert any(r["kind"] == "rehearsal" for r in project.history())

    unknown = project.run("rehearse", "--from-backup", "19990101T000000-nothing", "--rows", "5")
    assert unknown.code == 2, unknown.out + unknown.err
    assert len(unknown.err.strip().splitlines()) == 1 and "19990101T000000-nothing" in unknown.err, unknown.err
    assert _gone(vendor, server, live, f"{live}_rehearse" if vendor != "sqlite"
                 else str(Path(live).with_name("db_rehearse.sqlite3")))


SHORT_KEYS = '''
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("shop", "0001_initial")]
    operations = [
        migrations.CreateModel(
            name="Country",
            fields=[
                ("code", models.CharField(max_length=2, primary_key=True, serialize=False)),
                ("name", models.CharField(max_length=60)),
            ],
        ),
        migrations.CreateModel(
            name="Tag",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("letter", models.CharField(max_length=1, unique=True)),
            ],
        ),
        migrations.CreateModel(
            name="Address",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("line", models.CharField(max_length=40)),
                ("country", models.ForeignKey("shop.country", on_delete=models.CASCADE)),
                ("tag", models.ForeignKey("shop.tag", on_delete=models.CASCADE)),
            ],
        ),
    ]
'''

SHORT_KEYS_MODELS = """
from django.db import models


class Invoice(models.Model):
    number = models.CharField(max_length=30)
    amount = models.IntegerField(default=0)


class Country(models.Model):
    code = models.CharField(max_length=2, primary_key=True)
    name = models.CharField(max_length=60)


class Tag(models.Model):
    letter = models.CharField(max_length=1, unique=True)


class Address(models.Model):
    line = models.CharField(max_length=40)
    country = models.ForeignKey(Country, on_delete=models.CASCADE)
    tag = models.ForeignKey(Tag, on_delete=models.CASCADE)
"""

ADD_POSTCODE = '''
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("shop", "0002_places")]
    operations = [migrations.AddField("address", "postcode", models.CharField(max_length=10, default=""))]
'''


def test_short_unique_keys_use_the_whole_alphabet_and_a_full_column_is_reported(deployable):
    project, vendor, server, live = deployable
    project.migration("0002_places", SHORT_KEYS)
    (project.root / "shop" / "models.py").write_text(SHORT_KEYS_MODELS)
    assert project.deploy().code == 0
    query(vendor, server, live, "INSERT INTO shop_country (code, name) VALUES ('fr', 'France')")
    project.migration("0003_postcode", ADD_POSTCODE)
    scratch = f"{live}_short" if vendor != "sqlite" else str(Path(live).with_name("short.sqlite3"))
    room = 36 if vendor == "mysql" else 62  # MySQL/MariaDB's default collation ignores case

    try:
        done = project.run("rehearse", "--rows", "300", "--keep", "--scratch-name", scratch, "--format", "json")

        assert done.code == 0, done.out + done.err
        [postcode] = json.loads(done.out)["migrations"]
        # SQLite's scratch database is a copy of the live file: its country 'fr' is kept and not generated again.
        countries = 299 if vendor == "sqlite" else 300
        assert postcode["generated"] == {"shop_address": 300, "shop_country": countries, "shop_tag": room}
        assert postcode["limited"] == {"shop_tag": f"{room} of 300 rows: letter (CharField, max_length 1) has room"
                                                  f" for {room} more distinct values"}
        assert postcode["not_generated"] == {} and postcode["lossless"]
        codes = [r[0] for r in query(vendor, server, scratch, "SELECT code FROM shop_country")]
        distinct = (lambda values: {v.lower() for v in values}) if vendor == "mysql" else set
        assert len(codes) == 300 and len(distinct(codes)) == 300 and ("fr" in codes) == (vendor == "sqlite")
        assert all(1 <= len(c) <= 2 for c in codes)
        letters = [r[0] for r in query(vendor, server, scratch, "SELECT letter FROM shop_tag")]
        assert len(distinct(letters)) == room
        # Dependants are filled from the rows that exist: every address points at a real country and tag.
        orphans = query(vendor, server, scratch, "SELECT count(*) FROM shop_address a LEFT JOIN shop_country c"
                                                 " ON a.country_id = c.code LEFT JOIN shop_tag t ON a.tag_id = t.id"
                                                 " WHERE c.code IS NULL OR t.id IS NULL")
        assert orphans == [(0,)]
    finally:
        _drop(vendor, server, scratch)

    text = project.run("rehearse", "--rows", "300")
    assert text.code == 0, text.out + text.err
    assert (f"filled partly: shop_tag: {room} of 300 rows: letter (CharField, max_length 1) has room for {room}"
            " more distinct values") in text.out


BOOKING = '''
from django.db import migrations, models
from django.db.models import F, Q
from django.db.models.functions import Length
from django.db.models.lookups import LessThanOrEqual


class Migration(migrations.Migration):
    dependencies = [("shop", "0001_initial")]
    operations = [
        migrations.CreateModel(
            name="Booking",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("label", models.CharField(max_length=20)),
                ("start", models.DateField()),
                ("end", models.DateField()),
                ("percent", models.IntegerField()),
                ("price", models.DecimalField(max_digits=6, decimal_places=2)),
            ],
            options={"constraints": [
                models.CheckConstraint(condition=Q(end__gt=F("start")), name="booking_ends_after_start"),
                models.CheckConstraint(condition=Q(percent__gte=0) & Q(percent__lte=100), name="booking_percent"),
                models.CheckConstraint(condition=Q(price__gt=0) | Q(label__startswith="free"), name="booking_paid"),
                # Python cannot evaluate Length(): asked of the database, row by row.
                models.CheckConstraint(condition=LessThanOrEqual(Length("label"), 8), name="booking_short_label"),
            ]},
        ),
    ]
'''

BOOKING_MODELS = """
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Length
from django.db.models.lookups import LessThanOrEqual


class Invoice(models.Model):
    number = models.CharField(max_length=30)
    amount = models.IntegerField(default=0)


class Booking(models.Model):
    label = models.CharField(max_length=20)
    start = models.DateField()
    end = models.DateField()
    percent = models.IntegerField()
    price = models.DecimalField(max_digits=6, decimal_places=2)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(end__gt=F("start")), name="booking_ends_after_start"),
            models.CheckConstraint(condition=Q(percent__gte=0) & Q(percent__lte=100), name="booking_percent"),
            models.CheckConstraint(condition=Q(price__gt=0) | Q(label__startswith="free"), name="booking_paid"),
            models.CheckConstraint(condition=LessThanOrEqual(Length("label"), 8), name="booking_short_label"),
        ]
"""

# A CHECK only the database knows (Django's state does not): the rows it refuses are left out one by one.
DATABASE_ONLY_CHECK = '''
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("shop", "0002_booking")]
    operations = [migrations.RunSQL("ALTER TABLE shop_booking ADD CONSTRAINT booking_half CHECK (percent <= 50)",
                                    "ALTER TABLE shop_booking DROP CONSTRAINT booking_half")]
'''

# SQLite cannot add a CHECK to an existing table; a trigger that aborts is its database-only equivalent.
DATABASE_ONLY_CHECK_SQLITE = '''
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("shop", "0002_booking")]
    operations = [migrations.RunSQL(
        "CREATE TRIGGER booking_half BEFORE INSERT ON shop_booking WHEN NEW.percent > 50"
        " BEGIN SELECT RAISE(ABORT, 'booking_half violated'); END",
        "DROP TRIGGER booking_half")]
'''

ADD_SEATS = '''
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("shop", "{parent}")]
    operations = [migrations.AddField("booking", "seats", models.IntegerField(default=1))]
'''


def test_rows_satisfy_check_constraints_and_rows_left_out_are_counted(deployable):
    project, vendor, server, live = deployable
    project.migration("0002_booking", BOOKING)
    (project.root / "shop" / "models.py").write_text(BOOKING_MODELS)
    project.migration("0003_half", DATABASE_ONLY_CHECK if vendor != "sqlite" else DATABASE_ONLY_CHECK_SQLITE)
    parent = "0003_half"
    assert project.deploy().code == 0
    project.migration("0009_seats", ADD_SEATS.format(parent=parent))
    scratch = f"{live}_checks" if vendor != "sqlite" else str(Path(live).with_name("checks.sqlite3"))

    try:
        done = project.run("rehearse", "--rows", "120", "--keep", "--scratch-name", scratch, "--format", "json")

        assert done.code == 0, done.out + done.err
        [seats] = json.loads(done.out)["migrations"]
        # Labels are 'r<token>-<row>': 8 characters up to row 99, so rows 100-119 cannot satisfy the Length check.
        left = "20 rows left out: no values found that satisfy check constraint booking_short_label (20)"
        # percent is the row number, repaired to 0 above 100: rows 51-99 break the database-only check
        assert seats["generated"] == {"shop_booking": 51}
        assert seats["left_out"]["shop_booking"].startswith(f"{left}; 49 rows refused by the database (")
        assert "booking_half" in seats["left_out"]["shop_booking"]
        assert seats["not_generated"] == {} and seats["ok"]
        rows = query(vendor, server, scratch, "SELECT label, start, " + ("\"end\"" if vendor != "mysql" else "`end`")
                     + ", percent, price FROM shop_booking")
        assert all(len(r[0]) <= 8 and str(r[2]) > str(r[1]) and 0 <= r[3] <= 100 and float(r[4]) > 0 for r in rows)
        assert max(r[3] for r in rows) == 50
    finally:
        _drop(vendor, server, scratch)
