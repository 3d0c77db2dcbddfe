"""kill -9 in the middle of a batch, then resume: every row is updated exactly once.

The backfill runs in its own process in batches of 100 (n = n + 1). Another
session holds a row lock in the 16th window, so the process is killed while
a batch has already updated rows it has not committed; the server rolls that
batch back with its checkpoint update, and the resume starts after key 1500.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import time

import pytest

from tests.backfill.project import counter_project
from tests.databases import admin_connection, scratch_database
from tests.pipeline.inspect_db import query
from tests.pipeline.project import database_settings, wait_until

ROWS = 3000
RUN = ("backfill", "shop.Invoice", "--update", "n=n+1", "--batch-size", "100", "--min-batch-size", "100",
       "--max-batch-size", "100",
       "--lock-timeout", "60s", "--no-analyze")


def checkpoint(vendor, server, name):
    rows = query(vendor, server, name, "SELECT rows_done, last_key, state FROM migration_pilot_backfillcheckpoint")
    return rows[0] if rows else None


def backfill_waits_on_a_lock(vendor, server, name):
    if vendor == "postgresql":
        sql = ("SELECT COUNT(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
               f" AND datname = '{name}' AND query LIKE 'UPDATE%%'")
    else:
        sql = ("SELECT COUNT(*) FROM information_schema.INNODB_TRX t JOIN information_schema.PROCESSLIST p"
               " ON p.ID = t.trx_mysql_thread_id WHERE t.trx_state = 'LOCK WAIT' AND p.DB = DATABASE()")
    return query(vendor, server, name, sql)[0][0] > 0


def sessions_left(vendor, server, name):
    """Server sessions on the database other than the one asking (the killed client's may linger)."""
    if vendor == "postgresql":
        sql = f"SELECT COUNT(*) FROM pg_stat_activity WHERE datname = '{name}' AND pid <> pg_backend_pid()"
    else:
        sql = f"SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE db = '{name}' AND id <> CONNECTION_ID()"
    return query(vendor, server, name, sql)[0][0]


@pytest.mark.parametrize("vendor", ["postgresql", "mysql"])
def test_kill_9_mid_batch_then_resume_updates_every_row_once(vendor, request, tmp_path, scratch_db_access):
    server = request.getfixturevalue(f"{vendor}_server")
    with scratch_database(server, "pilot_bf") as name:
        project = counter_project(tmp_path / "project", database_settings(vendor, server, name), vendor, server, name,
                                  rows=ROWS)
        with admin_connection(server, name) as holder:
            cursor = holder.cursor()
            if vendor == "postgresql":
                cursor.execute("BEGIN")
            else:
                holder.autocommit(False)
            cursor.execute("SELECT id FROM shop_invoice WHERE id = 1550 FOR UPDATE")
            process = project.start(*RUN)
            try:
                # InnoDB's transaction view goes stale when read more often than every 0.1 s.
                wait_until(lambda: (checkpoint(vendor, server, name) or (0,))[0] == 1500
                           and backfill_waits_on_a_lock(vendor, server, name), timeout=60, interval=0.2)
                in_flight = query(vendor, server, name, "SELECT COUNT(*) FROM shop_invoice WHERE n = 1")[0][0]
                os.kill(process.pid, signal.SIGKILL)
            finally:
                if process.poll() is None:
                    process.kill()
                process.communicate(timeout=30)
            holder.commit()
        # The killed client's server session finds its client gone and rolls back.
        wait_until(lambda: sessions_left(vendor, server, name) == 0, timeout=60, interval=0.1)
        killed_at = checkpoint(vendor, server, name)

        resumed = project.run(*RUN, "--format", "json")

        events = [json.loads(line) for line in resumed.out.splitlines()]
        assert in_flight == 1500  # committed batches only: the blocked batch's rows are invisible
        assert killed_at == (1500, "1500", "running")
        assert resumed.code == 0, resumed.out + resumed.err
        assert events[0]["event"] == "started" and events[0]["resumed"] and events[0]["last_key"] == "1500"
        assert (events[-1]["rows_done"], events[-1]["rows_scanned"]) == (ROWS, ROWS)
        assert query(vendor, server, name, "SELECT COUNT(*) FROM shop_invoice WHERE n <> 1") == [(0,)]
        assert checkpoint(vendor, server, name) == (ROWS, str(ROWS), "done")


def test_kill_9_then_resume_on_sqlite(tmp_path, scratch_db_access):
    name = str(tmp_path / "db.sqlite3")
    project = counter_project(tmp_path / "project", database_settings("sqlite", None, name), "sqlite", None, name,
                              rows=ROWS)
    process = project.start(*RUN, "--sleep", "20ms")
    holder = sqlite3.connect(name, isolation_level=None)
    try:
        wait_until(lambda: (checkpoint("sqlite", None, name) or (0,))[0] >= 1000, timeout=60, interval=0.05)
        holder.execute("BEGIN IMMEDIATE")  # the next batch waits for the write lock ...
        time.sleep(0.3)
        os.kill(process.pid, signal.SIGKILL)  # ... and dies waiting, or between batches
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=30)
        holder.execute("ROLLBACK")
        holder.close()
    killed_at = checkpoint("sqlite", None, name)
    done_then = query("sqlite", None, name, "SELECT COUNT(*) FROM shop_invoice WHERE n = 1")[0][0]

    status = project.run("backfill", "--status", "--format", "json")
    resumed = project.run(*RUN)

    assert killed_at[2] == "running" and done_then == killed_at[0] and 1000 <= done_then < ROWS
    assert json.loads(status.out)[0]["state"] == "interrupted"  # its process is gone
    assert resumed.code == 0, resumed.out + resumed.err
    assert f"resuming after key {killed_at[1]}" in resumed.out
    assert query("sqlite", None, name, "SELECT COUNT(*) FROM shop_invoice WHERE n <> 1") == [(0,)]
