"""`pilot verify` on examples/shop, on SQLite, PostgreSQL and MariaDB: clean, then drift made by hand."""

from __future__ import annotations

import hashlib
import signal
import textwrap
import time
from pathlib import Path

import pytest

from tests.drift.project import Project, kinds
from tests.pipeline.project import wait_until

BROKEN = '''
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("orders", "0006_backfill_order_reference")]
    operations = [migrations.RunSQL("SELECT * FROM table_that_does_not_exist", migrations.RunSQL.noop)]
'''

SLOW = '''
import time

from django.db import migrations


def wait(apps, schema_editor):
    time.sleep(60)


class Migration(migrations.Migration):
    dependencies = [("orders", "0006_backfill_order_reference")]
    operations = [migrations.RunPython(wait, migrations.RunPython.noop)]
'''


def _by_kind(result):
    found = {}
    for d in result.json()["differences"]:
        found.setdefault(d["kind"], []).append(d)
    return found


def test_clean_database_verifies_clean_then_cached(project):
    project.migrate()

    first = project.verify()
    second = project.verify()

    assert first.code == 0, first.out + first.err
    assert first.json()["differences"] == []
    assert first.json()["reference"] == "shadow"
    assert second.code == 0, second.out + second.err
    assert second.json()["reference"] == "cache"
    assert second.json()["cached"] is True
    assert project.shadow_databases() == []


def test_text_output_for_a_clean_database(project):
    project.migrate()

    result = project.manage("pilot", "verify")
    (applied,) = project.query("SELECT count(*) FROM django_migrations")[0]

    assert result.code == 0, result.err
    assert f"against a shadow database built from {applied} applied migration(s)" in result.out
    assert result.out.rstrip().endswith("Clean: the database matches the migrations and models.")


def _make_drift(project: Project) -> None:
    v = project.vendor
    if v == "postgresql":
        (unique,) = project.query("SELECT conname FROM pg_constraint WHERE conrelid = 'billing_invoice'::regclass"
                                  " AND contype = 'u'")[0]
        project.sql("DROP INDEX order_tracking_number_idx",
                    "ALTER TABLE orders_order ADD COLUMN hotfix varchar(10) NULL",
                    "ALTER TABLE orders_order ALTER COLUMN currency TYPE varchar(5)",
                    "ALTER TABLE orders_order ALTER COLUMN status DROP NOT NULL",
                    "ALTER TABLE orders_order ALTER COLUMN reference SET DEFAULT 'x'",
                    f"ALTER TABLE billing_invoice DROP CONSTRAINT {unique}",
                    "CREATE TABLE stray (id int)")
    elif v == "mysql":
        (unique,) = project.query("SELECT CONSTRAINT_NAME FROM information_schema.TABLE_CONSTRAINTS WHERE"
                                  " TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'billing_invoice'"
                                  " AND CONSTRAINT_TYPE = 'UNIQUE'")[0]
        project.sql("DROP INDEX order_tracking_number_idx ON orders_order",
                    "ALTER TABLE orders_order ADD COLUMN hotfix varchar(10) NULL",
                    "ALTER TABLE orders_order MODIFY currency varchar(5) NOT NULL",
                    "ALTER TABLE orders_order MODIFY status varchar(20) NULL",
                    "ALTER TABLE orders_order ALTER reference SET DEFAULT 'x'",
                    f"ALTER TABLE billing_invoice DROP INDEX `{unique}`",
                    "CREATE TABLE stray (id int)")
    else:
        project.sql("DROP INDEX order_tracking_number_idx",
                    "ALTER TABLE orders_order ADD COLUMN hotfix varchar(10) NULL")
        project.sqlite_rebuild("orders_order", '"currency" varchar(3) NOT NULL', '"currency" varchar(5) NOT NULL')
        project.sqlite_rebuild("orders_order", '"status" varchar(20) NOT NULL', '"status" varchar(20) NULL')
        project.sqlite_rebuild("orders_order", '"reference" varchar(32) NULL', '"reference" varchar(32) DEFAULT \'x\' NULL')
        project.sqlite_rebuild("billing_invoice", '"number" varchar(32) NOT NULL UNIQUE', '"number" varchar(32) NOT NULL')
        project.sql("CREATE TABLE stray (id int)")


def test_each_kind_of_hand_made_drift_is_found_and_explained(project):
    project.migrate()
    project.verify()  # warm the cache: drift must also be found against the cached reference
    _make_drift(project)

    result = project.verify()

    assert result.code == 1, result.err
    assert result.json()["reference"] == "cache"
    found = kinds(result)
    for expected in [("missing_index", "orders_order", "order_tracking_number_idx"),
                     ("extra_column", "orders_order", "hotfix"),
                     ("column_type", "orders_order", "currency"),
                     ("column_nullability", "orders_order", "status"),
                     ("column_default", "orders_order", "reference"),
                     ("extra_table", "stray", "stray")]:
        assert expected in found, (expected, found)
    by_kind = _by_kind(result)
    assert [d["table"] for d in by_kind["missing_constraint"]] == ["billing_invoice"]
    assert len(found) == 7, found
    for d in result.json()["differences"]:
        assert d["cause"], d
        assert d["fix"], d
    assert "order_tracking_number_idx" in by_kind["missing_index"][0]["fix"]
    assert "orders.0003_order_tracking_number_index" in by_kind["missing_index"][0]["cause"]
    assert "SeparateDatabaseAndState" in by_kind["extra_column"][0]["fix"]
    assert by_kind["column_type"][0]["expected"] != by_kind["column_type"][0]["actual"]


def test_text_output_groups_by_table(project):
    project.migrate()
    project.sql("CREATE TABLE stray (id int)")

    result = project.manage("pilot", "verify")

    assert result.code == 1
    assert "\nstray\n  warning extra_table: stray\n" in result.out
    assert result.out.rstrip().endswith("Found 1 difference (1 warning).")


def test_faked_migration_is_found_and_named(project):
    project.migrate("orders", "0002")
    project.migrate("orders", "--fake")  # 0003..0006 recorded, never run
    project.migrate()

    result = project.verify()

    assert result.code == 1
    by_kind = _by_kind(result)
    (index,) = by_kind["missing_index"]
    assert index["object"] == "order_tracking_number_idx"
    assert "orders.0003_order_tracking_number_index" in index["cause"]
    assert "--fake" in index["cause"]
    columns = {d["object"]: d["cause"] for d in by_kind["missing_column"]}
    assert set(columns) == {"currency", "reference"}
    assert "orders.0004_order_currency" in columns["currency"]


def test_applied_migration_deleted_from_disk(project):
    project.migrate()
    (project.root / "billing" / "migrations" / "0004_alter_invoice_number.py").unlink()

    result = project.verify("--no-cache")

    assert result.code == 1
    history = [d for d in result.json()["differences"] if d["section"] == "history"]
    assert [(d["kind"], d["object"]) for d in history] == [
        ("applied_migration_missing", "billing.0004_alter_invoice_number")]
    schema = [d for d in result.json()["differences"] if d["section"] == "schema"]
    assert schema and {d["table"] for d in schema} == {"billing_invoice"}
    assert any("billing.0004_alter_invoice_number" in d["cause"] for d in schema)


def _fingerprint(project: Project) -> object:
    if project.vendor == "sqlite":
        return hashlib.sha256(Path(project.name).read_bytes()).hexdigest()
    from migration_pilot.drift import read_catalog
    from tests.databases import django_connection

    with django_connection(project.server, project.name) as connection:
        catalog = read_catalog(connection)
        with connection.cursor() as cursor:
            cursor.execute("SELECT app, name, applied FROM django_migrations ORDER BY id")
            rows = cursor.fetchall()
    return catalog.to_json(), rows


def test_verified_database_is_unchanged_and_shadow_dropped(project):
    project.migrate()
    project.sql("CREATE TABLE stray (id int)")
    before = _fingerprint(project)

    result = project.verify("--no-cache")

    assert result.code == 1
    assert _fingerprint(project) == before
    assert project.shadow_databases() == []


def test_migration_failing_in_the_shadow_is_a_one_line_error(project):
    project.migrate()
    (project.root / "orders" / "migrations" / "0007_broken.py").write_text(textwrap.dedent(BROKEN))
    project.migrate("orders", "0007", "--fake")

    result = project.manage("pilot", "verify", "--no-cache")

    assert result.code == 2
    assert result.err.startswith("error: Migration orders.0007_broken failed while building the shadow database:")
    assert len(result.err.strip().splitlines()) == 1
    assert project.shadow_databases() == []


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_interrupted_run_drops_the_shadow(project, sig):
    if project.vendor == "sqlite":
        pytest.skip("SQLite shadows are in memory")
    project.migrate()
    (project.root / "orders" / "migrations" / "0007_slow.py").write_text(textwrap.dedent(SLOW))
    project.migrate("orders", "0007", "--fake")
    process = project.start("pilot", "verify", "--no-cache")
    try:
        wait_until(lambda: project.shadow_databases() != [], timeout=60)
        time.sleep(1.0)  # inside the slow migration now

        process.send_signal(sig)
        process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()

    assert process.returncode != 0
    assert project.shadow_databases() == []


def test_unknown_alias_is_a_one_line_error(project):
    result = project.manage("pilot", "verify", "--database", "nope")

    assert result.code == 2
    assert result.err.strip() == ("error: Unknown database alias 'nope'; settings.DATABASES defines default."
                                  " Pass one of those to --database.")


def test_unknown_against_alias_names_the_against_flag(project):
    result = project.manage("pilot", "verify", "--against", "staging")

    assert result.code == 2
    assert result.err.strip() == ("error: Unknown database alias 'staging'; settings.DATABASES defines default."
                                  " Pass one of those to --against.")


def test_unreachable_database_is_a_one_line_error(project, tmp_path):
    if project.vendor == "sqlite":
        env = {"SHOP_SQLITE_PATH": str(tmp_path / "missing" / "dir" / "db.sqlite3")}
    else:
        env = {"DATABASE_URL": project.server.url(project.name).replace(f":{project.server.port}/", ":1/")}

    result = project.manage("pilot", "verify", **env)

    assert result.code == 2
    assert result.err.startswith("error: Cannot connect to database alias 'default'")
    assert len(result.err.strip().splitlines()) == 1


OTHER = '''

import os as _os
if _os.environ.get("OTHER_DATABASE_URL"):
    import dj_database_url as _dj
    _url = _os.environ["OTHER_DATABASE_URL"]
    DATABASES["other"] = dict(_dj.parse(_url))
elif _os.environ.get("OTHER_SQLITE_PATH"):
    DATABASES["other"] = {"ENGINE": "django.db.backends.sqlite3", "NAME": _os.environ["OTHER_SQLITE_PATH"]}
'''


def test_against_compares_two_live_databases(project, tmp_path, request):
    from tests.databases import scratch_database

    with open(project.root / "shopsite" / "settings.py", "a") as handle:
        handle.write(OTHER)
    project.migrate()
    if project.vendor == "sqlite":
        other_env = {"OTHER_SQLITE_PATH": str(tmp_path / "other.sqlite3")}
        result_clean, result_drift = _against(project, other_env)
    else:
        with scratch_database(project.server, "pilot_verify_other") as other:
            other_env = {"OTHER_DATABASE_URL": project.server.url(other)}
            result_clean, result_drift = _against(project, other_env)

    assert result_clean.code == 0, result_clean.out + result_clean.err
    assert result_clean.json()["reference"] == "alias:other"
    assert result_drift.code == 1
    assert ("extra_table", "stray", "stray") in kinds(result_drift)


def _against(project, other_env):
    migrated = project.manage("migrate", "--database", "other", "--no-input", "-v", "0", **other_env)
    assert migrated.code == 0, migrated.err
    clean = project.manage("pilot", "verify", "--against", "other", "--format", "json", **other_env)
    project.sql("CREATE TABLE stray (id int)")
    drift = project.manage("pilot", "verify", "--against", "other", "--format", "json", **other_env)
    return clean, drift
