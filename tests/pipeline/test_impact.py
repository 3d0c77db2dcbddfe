"""The deploy records what the application felt (impact monitor) and its circuit breaker stops a blocking migration."""

from __future__ import annotations

import threading
import time

from tests.databases import admin_connection
from tests.pipeline.project import NOTE_FIELDS

# Holds ACCESS EXCLUSIVE on shop_invoice (the ADD COLUMN) while it sleeps in the same transaction.
BLOCKING = '''
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("shop", "0001_initial")]
    operations = [
        migrations.AddField("invoice", "note", models.CharField(max_length=50, null=True)),
        migrations.RunSQL("SELECT pg_sleep({seconds})", migrations.RunSQL.noop),
    ]
'''


def _reader(server, name, waits, started):
    def read():
        with admin_connection(server, name) as conn:
            started.wait(30)
            time.sleep(0.3)  # the migration holds its lock by now (it sleeps in its transaction)
            began = time.monotonic()
            conn.execute("SELECT count(*) FROM shop_invoice")
            waits.append(time.monotonic() - began)
    return threading.Thread(target=read)


def _wait_for_sleep(server, name, started):
    with admin_connection(server, name) as conn:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'SELECT pg_sleep%%'"
                            " AND application_name = 'migration-pilot deploy'").fetchone()[0]:
                break
            time.sleep(0.05)
    started.set()


def test_history_records_who_waited_on_the_migration(pg_deployed):
    project, server, name = pg_deployed
    project.migration("0002_note", BLOCKING.format(seconds=1.5))
    project.models(NOTE_FIELDS)
    waits: list[float] = []
    started = threading.Event()
    reader = _reader(server, name, waits, started)
    reader.start()
    deploy = project.start("deploy", "--no-backup", "--fail-on", "never")
    _wait_for_sleep(server, name, started)
    out, err = deploy.communicate(timeout=120)
    reader.join()

    assert deploy.returncode == 0, out + err
    assert "impact: longest wait by another session" in out
    (row,) = [m for m in project.history()[0]["migrations"] if m["name"] == "0002_note"]
    impact = row["impact"]
    assert impact["sessions_blocked"] >= 1
    assert 0.5 <= impact["longest_wait_s"] <= waits[0] + 0.3
    assert "longest wait by another session" in project.run("history").out


def test_circuit_breaker_cancels_the_blocking_statement_and_retries(pg_deployed):
    project, server, name = pg_deployed
    project.migration("0002_note", BLOCKING.format(seconds=3))
    project.models(NOTE_FIELDS)
    waits: list[float] = []
    started = threading.Event()
    reader = _reader(server, name, waits, started)
    reader.start()
    deploy = project.start("deploy", "--no-backup", "--fail-on", "never", "--max-blocked", "300ms",
                           "--retry-delay", "200ms")
    _wait_for_sleep(server, name, started)
    out, err = deploy.communicate(timeout=120)
    reader.join()

    assert deploy.returncode == 0, out + err
    assert "circuit breaker: session" in out and "circuit breaker on shop.0002_note; retry 1" in out
    assert waits[0] < 2.0  # cancelled after ~0.3 s of waiting, not after the 3 s sleep
    (row,) = [m for m in project.history()[0]["migrations"] if m["name"] == "0002_note"]
    assert row["retries"] == 1 and len(row["impact"]["trips"]) == 1
