"""The deploy pipeline's reliability proofs, on SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

import getpass
import json
import signal
import socket
import time

import pytest

from tests.pipeline.inspect_db import applied, query, schema_dump
from tests.pipeline.project import ADD_NOTE, FAILING, IRREVERSIBLE, NOTE_FIELDS, SLOW, wait_until

# Fails only at COMMIT: the constraint is checked then, after Django has recorded the migration.
DEFERRED_VIOLATION = '''
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("shop", "0001_initial")]
    operations = [
        migrations.RunSQL(
            "CREATE TABLE shop_line (invoice_id integer REFERENCES shop_invoice (id) DEFERRABLE INITIALLY DEFERRED);"
            " INSERT INTO shop_line VALUES (424242);",
            migrations.RunSQL.noop),
    ]
'''


def test_first_deploy_applies_and_records_the_run(deployable):
    project, vendor, server, name = deployable

    result = project.deploy("--format", "json")

    assert result.code == 0, result.out + result.err
    payload = json.loads(result.out)
    assert payload["outcome"] == "succeeded"
    assert ("shop", "0001_initial") in applied(vendor, server, name)
    (run,) = project.history()
    assert run["outcome"] == "succeeded" and run["kind"] == "deploy"
    # Who, where and when: the person at 3 a.m. needs to know whose run this was.
    assert run["user"] == getpass.getuser() and run["host"] == socket.gethostname()
    assert run["pid"] > 0 and run["started_at"] <= run["finished_at"]
    recorded = [(m["app"], m["name"], m["outcome"]) for m in run["migrations"]]
    assert ("shop", "0001_initial", "applied") in recorded
    assert all(m["duration_s"] is not None for m in run["migrations"])
    # One row per planned migration, each written once with its figures.
    assert sorted((app, name) for app, name, _ in recorded) == sorted(tuple(key) for key in run["plan"])
    shop = next(m for m in run["migrations"] if m["name"] == "0001_initial")
    assert shop["statements"] > 0
    assert (shop["wal_bytes"] or 0) > 0 if vendor == "postgresql" else shop["wal_bytes"] is None


@pytest.mark.parametrize("vendor", ["postgresql"])
def test_history_row_commits_with_its_migration(deployable):
    """A migration whose own COMMIT fails is not recorded as applied, in either history."""
    project, vendor, server, name = deployable
    assert project.deploy().code == 0
    project.migration("0002_note", DEFERRED_VIOLATION)

    result = project.deploy("--no-backup")

    assert result.code == 3, result.out + result.err
    assert ("shop", "0002_note") not in applied(vendor, server, name)
    last = project.history()[0]
    assert [(m["name"], m["outcome"]) for m in last["migrations"]] == [("0002_note", "failed")]
    assert "ForeignKeyViolation" in last["migrations"][0]["error"] or "foreign key" in last["migrations"][0]["error"]


def test_failure_half_way_rolls_back_to_the_exact_previous_state(deployable):
    project, vendor, server, name = deployable
    assert project.deploy().code == 0
    query(vendor, server, name, "INSERT INTO shop_invoice (number, amount) VALUES ('keep', 7)")
    before_schema = schema_dump(vendor, server, name)
    before_applied = applied(vendor, server, name)
    project.migration("0002_note", ADD_NOTE)
    project.migration("0003_broken", FAILING)
    project.models(NOTE_FIELDS)

    result = project.deploy()

    assert result.code == 3, result.out + result.err
    assert "back at its pre-deploy state" in result.out
    assert schema_dump(vendor, server, name) == before_schema
    assert applied(vendor, server, name) == before_applied
    assert query(vendor, server, name, "SELECT number, amount FROM shop_invoice") == [("keep", 7)]
    last = project.history()[0]
    assert last["outcome"] == "rolled_back"
    assert [(m["name"], m["outcome"]) for m in last["migrations"]] == [
        ("0002_note", "applied"), ("0003_broken", "failed"), ("0002_note", "unapplied")]


def test_irreversible_migration_cannot_be_rolled_back_and_says_what_to_do(deployable):
    project, vendor, server, name = deployable
    assert project.deploy().code == 0
    project.migration("0002_note", ADD_NOTE)
    project.migration("0003_touch", IRREVERSIBLE)
    project.migration("0004_broken", FAILING.replace("0002_note", "0003_touch"))
    project.models(NOTE_FIELDS)

    result = project.deploy("--fail-on", "never")

    assert result.code == 4, result.out + result.err
    # Said up front, before anything is applied, and again in the outcome.
    warning = result.out.index("Warning: shop.0003_touch cannot be unapplied: if the deploy fails after it")
    assert warning < result.out.index("Applying shop.0002_note")
    assert "Cannot roll back: shop.0003_touch cannot be unapplied" in result.out
    assert ("shop", "0003_touch") in applied(vendor, server, name)


def test_two_deploys_at_once_only_one_applies(deployable):
    project, vendor, server, name = deployable
    assert project.deploy().code == 0
    project.migration("0002_note", ADD_NOTE)
    project.migration("0003_slow", SLOW.format(seconds=4))
    project.models(NOTE_FIELDS)
    first = project.start("deploy", "--no-backup")
    wait_until(lambda: ("shop", "0002_note") in applied(vendor, server, name))

    started = time.monotonic()
    second = project.deploy("--wait", "1s")
    waited = time.monotonic() - started

    assert second.code == 1, second.out + second.err
    assert "Another deploy holds the deploy lock" in second.err
    if vendor == "postgresql":  # the holder is named: its pid, its application name, where from, since when
        assert " migration-pilot lock from 127.0.0.1" in second.err
    assert waited < 15
    out, err = first.communicate(timeout=60)
    assert first.returncode == 0, out + err
    third = project.deploy("--wait", "30s")
    assert third.code == 0 and "Nothing to deploy" in third.out
    rows = query(vendor, server, name, "SELECT app, name, count(*) FROM django_migrations GROUP BY app, name")
    assert all(count == 1 for _, _, count in rows)


def test_killed_deploy_is_detected_and_completed(deployable):
    project, vendor, server, name = deployable
    assert project.deploy().code == 0
    project.migration("0002_note", ADD_NOTE)
    project.migration("0003_slow", SLOW.format(seconds=30))
    project.models(NOTE_FIELDS)
    victim = project.start("deploy", "--no-backup")
    wait_until(lambda: ("shop", "0002_note") in applied(vendor, server, name))
    time.sleep(1)  # into 0003_slow's 30-second RunPython, which runs in one transaction

    victim.send_signal(signal.SIGKILL)
    victim.communicate(timeout=30)
    shown = project.run("history").out
    assert ("-> shop.0003_slow running" if vendor == "mysql" else ".. shop.0003_slow not finished") in shown
    project.migration("0003_slow", SLOW.format(seconds=0))
    result = project.deploy()

    assert result.code == 0, result.out + result.err
    assert "Found interrupted deploy" in result.out
    assert "applied ['shop.0002_note']; in flight ['shop.0003_slow'] (" in result.out
    # Without transactional DDL the migration had its own "running" row; elsewhere the database rolled it back.
    assert ("0 of its operation(s) had committed" if vendor == "mysql" else "it ran in one transaction") in result.out
    assert ("shop", "0003_slow") in applied(vendor, server, name)
    outcomes = [run["outcome"] for run in project.history()]
    assert outcomes[:2] == ["succeeded", "interrupted"]
    rows = query(vendor, server, name, "SELECT app, name, count(*) FROM django_migrations GROUP BY app, name")
    assert all(count == 1 for _, _, count in rows)


def test_rollback_command_undoes_the_last_deploy(deployable):
    project, vendor, server, name = deployable
    assert project.deploy().code == 0
    before = schema_dump(vendor, server, name)
    project.migration("0002_note", ADD_NOTE)
    project.models(NOTE_FIELDS)
    assert project.deploy().code == 0

    result = project.run("rollback", "--no-backup")

    assert result.code == 0, result.out + result.err
    assert "Rolled back 1 migration(s)" in result.out
    assert ("shop", "0002_note") not in applied(vendor, server, name)
    assert schema_dump(vendor, server, name) == before
    assert project.history()[0]["kind"] == "rollback"


def test_metrics_file_in_prometheus_format(deployable, tmp_path):
    from prometheus_client.parser import text_string_to_metric_families

    project, vendor, *_ = deployable
    metrics = tmp_path / "pilot.prom"

    assert project.deploy("--metrics-file", str(metrics)).code == 0

    text = metrics.read_text()
    assert 'migration_pilot_deploy_exit_code{alias="default",outcome="succeeded"} 0' in text
    # Prometheus' own parser reads it: every family typed, every sample well formed.
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert {f.type for f in families.values()} == {"gauge"}
    durations = {s.labels["migration"]: s.value for s in families["migration_pilot_migration_duration_seconds"].samples}
    assert durations["0001_initial"] > 0
    (stamp,) = families["migration_pilot_deploy_last_run_timestamp_seconds"].samples
    assert abs(stamp.value - time.time()) < 120
    if vendor == "postgresql":
        assert "migration_pilot_migration_wal_bytes" in families


BROKEN_REVERSE = '''
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("shop", "0002_note")]
    operations = [migrations.RunSQL("SELECT 1", "SELECT * FROM no_such_table_to_reverse")]
'''


def test_rollback_that_fails_stops_and_says_how_to_get_back(deployable):
    """E3: the forward run fails, then a reverse fails too: exit 4, the state and the backup named."""
    project, vendor, server, name = deployable
    assert project.deploy().code == 0
    project.migration("0002_note", ADD_NOTE)
    project.migration("0003_reverse_broken", BROKEN_REVERSE)
    project.migration("0004_broken", FAILING.replace("0002_note", "0003_reverse_broken"))
    project.models(NOTE_FIELDS)

    result = project.run("deploy", "--retry-delay", "0.1s", "--fail-on", "never", "--format", "json")

    assert result.code == 4, result.out + result.err
    payload = json.loads(result.out)
    assert "rollback failed at shop.0003_reverse_broken" in payload["message"]
    assert "Now applied from this run: shop.0002_note, shop.0003_reverse_broken." in payload["message"]
    assert f"'pilot restore {payload['backup_id']} --yes'" in payload["message"]
    assert ("shop", "0003_reverse_broken") in applied(vendor, server, name)
    unapply_attempts = [e for e in payload["events"] if e["kind"] == "migration_failed"]
    assert len(unapply_attempts) == 2  # the forward failure and one failed reverse: no further attempts
    assert project.history()[0]["outcome"] == "failed"


COUNTED_UPDATE = '''
from django.db import migrations


def bump(apps, schema_editor):
    apps.get_model("shop", "Invoice").objects.filter(amount__lt=100).update(amount=100)


class Migration(migrations.Migration):
    dependencies = [("shop", "0001_initial")]
    operations = [
        migrations.RunSQL("UPDATE shop_invoice SET amount = amount + 1 WHERE number LIKE 'a%'",
                          migrations.RunSQL.noop),
        migrations.RunPython(bump, migrations.RunPython.noop),
    ]
'''


def test_rows_affected_are_recorded_for_run_sql_and_run_python(deployable):
    project, vendor, server, name = deployable
    assert project.deploy().code == 0
    query(vendor, server, name, "INSERT INTO shop_invoice (number, amount) VALUES ('a1', 1), ('a2', 2), ('b1', 500)")
    project.migration("0002_bump", COUNTED_UPDATE)

    assert project.deploy("--fail-on", "never").code == 0

    (bump,) = [m for m in project.history()[0]["migrations"] if m["name"] == "0002_bump"]
    assert bump["rows_affected"] == 2 + 2  # two rows matched by the RunSQL, two by the ORM update
