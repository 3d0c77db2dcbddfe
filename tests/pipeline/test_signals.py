"""SIGTERM or SIGINT mid-migration: statement cancelled, run recorded, lock freed, exit 143/130 (C3)."""

from __future__ import annotations

import json
import signal
import time

import pytest

from tests.pipeline.inspect_db import applied, query
from tests.pipeline.project import ADD_NOTE, NOTE_FIELDS, wait_until

# 30 seconds inside the database where it has a sleep of its own, so cancelling must reach the server.
SLOW_QUERY = '''
import time

from django.db import migrations


def wait(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "sqlite":
        time.sleep(30)
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT pg_sleep(30)" if vendor == "postgresql" else "SELECT SLEEP(30)")


class Migration(migrations.Migration):
    dependencies = [("shop", "0002_note")]
    operations = [migrations.RunPython(wait, migrations.RunPython.noop)]
'''

QUICK = '''
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("shop", "0002_note")]
    operations = [migrations.RunSQL("SELECT 1", migrations.RunSQL.noop)]
'''

STILL_SLEEPING = {
    "postgresql": "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND state = 'active' AND query LIKE 'SELECT pg_sleep(30)%'",
    "mysql": "SELECT count(*) FROM information_schema.processlist WHERE DB = DATABASE() AND INFO LIKE 'SELECT SLEEP(30)%'",
}


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_mid_migration_stops_cleanly_and_a_rerun_finishes(deployable, signum):
    project, vendor, server, name = deployable
    assert project.deploy().code == 0
    project.migration("0002_note", ADD_NOTE)
    project.migration("0003_slow", SLOW_QUERY)
    project.models(NOTE_FIELDS)
    victim = project.start("deploy", "--no-backup")
    wait_until(lambda: ("shop", "0002_note") in applied(vendor, server, name))
    time.sleep(1.5)  # inside 0003_slow's 30-second sleep

    sent = time.monotonic()
    victim.send_signal(signum)
    out, err = victim.communicate(timeout=30)
    took = time.monotonic() - sent

    assert victim.returncode == 128 + signum, out + err
    assert took < 10  # not the 30 seconds the statement would have taken
    assert "Traceback" not in err
    assert f"Interrupted by {signal.Signals(signum).name}. Finished in this run: shop.0002_note." in out
    assert "shop.0003_slow" in out and "was cancelled and rolled back" in out
    assert ("shop", "0003_slow") not in applied(vendor, server, name)
    if vendor in STILL_SLEEPING:
        assert query(vendor, server, name, STILL_SLEEPING[vendor]) == [(0,)]
    (last, *_) = project.history()
    assert last["outcome"] == "interrupted"
    assert [(m["name"], m["outcome"]) for m in last["migrations"]][:1] == [("0002_note", "applied")]

    project.migration("0003_slow", QUICK)
    rerun = project.deploy("--wait", "0s")  # the lock was freed: no waiting, no manual unlock

    assert rerun.code == 0, rerun.out + rerun.err
    assert ("shop", "0003_slow") in applied(vendor, server, name)


def test_sigterm_during_the_backup_leaves_no_backup_and_changes_nothing(pg_deployed):
    from tests.databases import admin_connection

    project, server, name = pg_deployed
    project.migration("0002_note", ADD_NOTE)
    project.models(NOTE_FIELDS)
    with admin_connection(server, name) as holder:
        holder.autocommit = False
        holder.cursor().execute("LOCK TABLE shop_invoice IN ACCESS EXCLUSIVE MODE")  # pg_dump must wait
        victim = project.start("deploy", "--blocker-wait", "0s")
        wait_until(lambda: query("postgresql", server, name,
                                 "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'pg_dump'"
                                 " AND wait_event_type = 'Lock'") == [(1,)])

        victim.send_signal(signal.SIGTERM)
        out, err = victim.communicate(timeout=30)
        holder.rollback()
    dumps_left = query("postgresql", server, name,
                       "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'pg_dump'")
    now_applied = applied("postgresql", server, name)
    listed = project.run("backups", "--format", "json")
    history = project.history()

    assert victim.returncode == 143, out + err
    assert "Traceback" not in err
    assert "It stopped before applying anything" in out
    assert dumps_left == [(0,)]
    assert ("shop", "0002_note") not in now_applied
    assert listed.code == 0 and json.loads(listed.out) == []
    assert [p.name for p in (project.root / "backups").iterdir()] in ([], [".gitignore"])  # no half-written file
    assert history[0]["outcome"] == "interrupted"


def test_an_interrupt_that_finished_nothing_does_not_advise_a_rollback(tmp_path):
    from tests.pipeline.project import SLOW, DeployProject, database_settings

    project = DeployProject(tmp_path / "project", database_settings("sqlite", None, str(tmp_path / "db.sqlite3")))
    project.migration("0002_note", ADD_NOTE)
    project.models(NOTE_FIELDS)
    assert project.deploy().code == 0  # an earlier, successful deploy a rollback would undo
    project.migration("0003_slow", SLOW.format(seconds=30))
    victim = project.start("deploy", "--no-backup")
    wait_until(lambda: any(r["outcome"] == "running" for r in project.history()), timeout=60)
    time.sleep(1)

    victim.send_signal(signal.SIGTERM)
    out, err = victim.communicate(timeout=30)

    assert victim.returncode == 143, out + err
    assert "nothing of this run stayed applied. Run 'pilot deploy' again to finish." in out
    assert "pilot rollback" not in out
