"""A long transaction holds a lock the plan needs: traffic must not queue behind the deploy.

Without a lock timeout, an ALTER waiting for its lock makes every later query
on the table wait behind it (failure scenario A4). With one, the deploy gives
up quickly, retries with backoff, and fails cleanly, while a concurrent
client's simple queries keep succeeding.
"""

from __future__ import annotations

import threading
import time

import pytest

from tests.databases import admin_connection, scratch_database
from tests.pipeline.inspect_db import applied
from tests.pipeline.project import ADD_NOTE, NOTE_FIELDS, DeployProject, database_settings


class Client(threading.Thread):
    """Runs a simple query in a loop and records the slowest one."""

    def __init__(self, server, name):
        super().__init__(daemon=True)
        self.server, self.name = server, name
        self.latencies: list[float] = []
        self.errors: list[str] = []
        self.stop = threading.Event()

    def run(self):
        with admin_connection(self.server, self.name) as conn:
            cursor = conn.cursor()
            if self.server.vendor == "postgresql":
                cursor.execute("SET statement_timeout = '10s'")
            while not self.stop.is_set():
                started = time.monotonic()
                try:
                    cursor.execute("SELECT count(*) FROM shop_invoice")
                    cursor.fetchall()
                except Exception as exc:  # recorded, asserted on below
                    self.errors.append(str(exc))
                self.latencies.append(time.monotonic() - started)
                time.sleep(0.05)


@pytest.mark.parametrize("vendor", ["postgresql", "mysql"])
def test_lock_timeout_keeps_traffic_flowing_and_fails_cleanly(vendor, request, tmp_path):
    server = request.getfixturevalue(f"{vendor}_server")
    lock_timeout, lock_seconds = ("300ms", 0.3) if vendor == "postgresql" else ("1s", 1.0)
    with scratch_database(server, "pilot_locks") as name:
        project = DeployProject(tmp_path / "project", database_settings(vendor, server, name))
        assert project.deploy().code == 0
        project.migration("0002_note", ADD_NOTE)
        project.models(NOTE_FIELDS)
        with admin_connection(server, name) as holder:
            if vendor == "postgresql":
                holder.autocommit = False
            else:
                holder.autocommit(False)
            cursor = holder.cursor()
            cursor.execute("SELECT pg_backend_pid()" if vendor == "postgresql" else "SELECT CONNECTION_ID()")
            holder_pid = cursor.fetchone()[0]
            cursor.execute("SELECT * FROM shop_invoice LIMIT 1")  # idle in transaction from here on
            cursor.fetchall()
            client = Client(server, name)
            client.start()
            time.sleep(0.3)

            result = project.deploy("--lock-timeout", lock_timeout, "--retries", "2")

            client.stop.set()
            client.join(timeout=30)
            holder.rollback()
        failed_run = project.history()[0]
        after = project.deploy()
        applied_after = applied(vendor, server, name)

    assert result.code == 3, result.out + result.err
    assert "retry 2/2" in result.out
    assert "back at its pre-deploy state" in result.out
    # The message names the session the deploy waited for, so a person knows whom to ask (A4, A5).
    assert f"waiting for pid {holder_pid} (idle in transaction" in result.out
    assert "SELECT * FROM shop_invoice LIMIT 1" in result.out or vendor == "mysql"  # MariaDB shows no idle query
    (note,) = [m for m in failed_run["migrations"] if m["name"] == "0002_note"]
    assert note["outcome"] == "failed" and note["retries"] == 2
    assert note["lock_wait_s"] >= 3 * lock_seconds  # three attempts, each waited out its lock timeout
    assert client.errors == []
    assert max(client.latencies) < (1.0 if vendor == "postgresql" else 2.5), max(client.latencies)
    assert after.code == 0, after.out + after.err
    assert ("shop", "0002_note") in applied_after
