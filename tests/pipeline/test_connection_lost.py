"""The migration's connection is killed mid-migration: reconnect, roll back this run, prove it (C4)."""

from __future__ import annotations

import pytest

from tests.pipeline.inspect_db import applied, query, schema_dump
from tests.pipeline.project import ADD_NOTE, NOTE_FIELDS, wait_until

SLOW_QUERY = '''
from django.db import migrations


def wait(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT pg_sleep(30)" if schema_editor.connection.vendor == "postgresql" else "SELECT SLEEP(30)")


class Migration(migrations.Migration):
    dependencies = [("shop", "0002_note")]
    operations = [migrations.RunPython(wait, migrations.RunPython.noop)]
'''

SLEEPER = {
    "postgresql": "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND state = 'active' AND query LIKE 'SELECT pg_sleep(30)%'",
    "mysql": "SELECT ID FROM information_schema.processlist WHERE DB = DATABASE() AND INFO LIKE 'SELECT SLEEP(30)%'",
}
KILL = {"postgresql": "SELECT pg_terminate_backend({})", "mysql": "KILL {}"}


@pytest.mark.parametrize("vendor", ["postgresql", "mysql"])
def test_killed_connection_is_replaced_and_the_run_rolled_back(deployable):
    project, vendor, server, name = deployable
    assert project.deploy().code == 0
    before_schema = schema_dump(vendor, server, name)
    before_applied = applied(vendor, server, name)
    project.migration("0002_note", ADD_NOTE)
    project.migration("0003_slow", SLOW_QUERY)
    project.models(NOTE_FIELDS)
    deploy = project.start("deploy", "--no-backup")
    wait_until(lambda: query(vendor, server, name, SLEEPER[vendor]) != [])
    (sleeper,) = query(vendor, server, name, SLEEPER[vendor])

    query(vendor, server, name, KILL[vendor].format(int(sleeper[0])))
    out, err = deploy.communicate(timeout=60)

    assert "Traceback" not in err, err
    assert deploy.returncode == 3, out + err
    assert "connection" in out.lower()
    assert "back at its pre-deploy state" in out
    assert schema_dump(vendor, server, name) == before_schema
    assert applied(vendor, server, name) == before_applied
    assert project.history()[0]["outcome"] == "rolled_back"
