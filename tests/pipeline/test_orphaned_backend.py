"""A killed deploy's backend can run on: the next deploy waits for it, or refuses, never races it (C1)."""

from __future__ import annotations

import signal
import time

import pytest

from tests.pipeline.inspect_db import applied, query
from tests.pipeline.project import ADD_NOTE, wait_until

FIELDS = ("number = models.CharField(max_length=30)\n    amount = models.IntegerField(default=0)\n"
          "    note = models.CharField(max_length=50, null=True)\n    memo = models.CharField(max_length=9, null=True)")

# Alters the table, then sleeps in the server holding ACCESS EXCLUSIVE on it.
ALTER_THEN_SLEEP = '''
from django.db import migrations, models


def sleep_in_the_server(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT pg_sleep({seconds})")


class Migration(migrations.Migration):
    dependencies = [("shop", "0002_note")]
    operations = [
        migrations.AddField("invoice", "memo", models.CharField(max_length=9, null=True)),
        migrations.RunPython(sleep_in_the_server, migrations.RunPython.noop),
    ]
'''

ORPHAN = ("SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'migration-pilot deploy'"
          " AND state = 'active' AND query LIKE 'SELECT pg_sleep%'")


@pytest.fixture
def orphaned(pg_deployed):
    """A project whose deploy was SIGKILLed while its backend sleeps on, holding the table."""
    project, server, name = pg_deployed
    project.migration("0002_note", ADD_NOTE)
    project.migration("0003_memo", ALTER_THEN_SLEEP.format(seconds=8))
    project.models(FIELDS)
    victim = project.start("deploy", "--no-backup")
    wait_until(lambda: query("postgresql", server, name, ORPHAN) != [])
    (pid,) = query("postgresql", server, name, ORPHAN)[0]
    victim.send_signal(signal.SIGKILL)
    victim.communicate(timeout=30)
    killed_at = time.monotonic()
    project.migration("0003_memo", ALTER_THEN_SLEEP.format(seconds=0))
    return project, server, name, pid, killed_at


def test_next_deploy_waits_for_the_dead_deploys_backend_then_finishes(orphaned):
    project, server, name, pid, killed_at = orphaned
    assert query("postgresql", server, name, ORPHAN) == [(pid,)]  # the process is gone, its backend is not

    result = project.deploy("--blocker-wait", "30s")

    assert result.code == 0, result.out + result.err
    assert "An earlier deploy died while the server went on running its statement" in result.out
    assert f"pid {pid} migration-pilot deploy (active" in result.out
    assert "Found interrupted deploy" in result.out
    assert "retry" not in result.out  # it waited for the backend instead of timing out against its locks
    assert time.monotonic() - killed_at > 4
    assert ("shop", "0003_memo") in applied("postgresql", server, name)


def test_next_deploy_refuses_while_the_dead_deploys_backend_runs_on(orphaned):
    project, server, name, pid, _ = orphaned

    result = project.deploy("--blocker-wait", "1s")
    still_running = query("postgresql", server, name, ORPHAN)

    assert result.code == 1, result.out + result.err
    assert f"still running a statement of an earlier, dead deploy (pid {pid})" in result.out
    assert f"SELECT pg_cancel_backend({pid})" in result.out
    assert still_running == [(pid,)]  # never killed
    assert ("shop", "0003_memo") not in applied("postgresql", server, name)
