"""Sessions in the way of the plan are reported and waited for, never killed (PostgreSQL)."""

from __future__ import annotations

import subprocess
import threading
import time

import pytest

from tests.databases import admin_connection
from tests.pipeline.inspect_db import applied, query
from tests.pipeline.project import ADD_NOTE, NOTE_FIELDS, wait_until


@pytest.fixture
def noted_project(pg_deployed):
    """A PostgreSQL project at 0001 with 0002_note (an ALTER on shop_invoice) waiting to deploy."""
    project, server, name = pg_deployed
    project.migration("0002_note", ADD_NOTE)
    project.models(NOTE_FIELDS)
    return project, server, name


def idle_in_transaction(server, name):
    """A connection that read shop_invoice and sits idle in its transaction.

    Returns (context, connection, backend pid, transaction start time).
    """
    holder = admin_connection(server, name)
    conn = holder.__enter__()
    conn.autocommit = False
    cursor = conn.cursor()
    cursor.execute("SELECT pg_backend_pid(), now()")  # now() is the transaction's start
    pid, started = cursor.fetchone()
    cursor.execute("SELECT * FROM shop_invoice LIMIT 1")
    cursor.fetchall()
    return holder, conn, pid, started


def test_blocker_that_finishes_in_time_is_reported_and_waited_for(noted_project):
    project, server, name = noted_project
    holder, conn, pid, _ = idle_in_transaction(server, name)
    release = threading.Timer(2.0, conn.rollback)
    release.start()
    try:
        started = time.monotonic()
        result = project.deploy("--blocker-wait", "20s", "--lock-timeout", "300ms", "--retries", "0")
        elapsed = time.monotonic() - started
    finally:
        release.join()
        holder.__exit__(None, None, None)

    assert result.code == 0, result.out + result.err
    assert "Sessions holding locks on planned tables (not killed)" in result.out
    assert f"pid {pid} (idle in transaction, transaction since" in result.out
    assert "on shop_invoice: SELECT * FROM shop_invoice LIMIT 1" in result.out
    assert elapsed >= 2.0  # it waited for the session instead of timing out against it
    assert "retry" not in result.out
    assert ("shop", "0002_note") in applied("postgresql", server, name)


def test_blocker_that_stays_is_never_killed_and_the_wait_is_bounded(noted_project):
    project, server, name = noted_project
    holder, conn, pid, began = idle_in_transaction(server, name)
    try:
        started = time.monotonic()
        result = project.deploy("--blocker-wait", "1s", "--lock-timeout", "300ms", "--retries", "0")
        elapsed = time.monotonic() - started
        cursor = conn.cursor()
        cursor.execute("SELECT pg_backend_pid(), now()")  # same session, same transaction
        still_there, transaction_started = cursor.fetchone()
    finally:
        conn.rollback()
        holder.__exit__(None, None, None)

    assert result.code == 3, result.out + result.err
    assert "1 session(s) still hold locks; going on under the lock timeout" in result.out
    assert still_there == pid and transaction_started == began
    assert elapsed < 20
    assert ("shop", "0002_note") not in applied("postgresql", server, name)


def test_a_running_pg_dump_is_named_as_the_blocker(noted_project):
    """pg_dump holds ACCESS SHARE on every table it dumps until it ends (A7)."""
    project, server, name = noted_project
    query("postgresql", server, name,
          "INSERT INTO shop_invoice (number, amount) SELECT repeat('x', 30), g FROM generate_series(1, 50000) g")
    # Nobody reads its output: once the pipe is full, pg_dump waits with its snapshot and locks held.
    dump = subprocess.Popen(["pg_dump", "-h", server.host, "-p", str(server.port), "-U", server.user,
                             "-d", name, "-t", "shop_invoice"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: query("postgresql", server, name,
                                 "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'pg_dump'"
                                 " AND query LIKE 'COPY%'") == [(1,)])
        (dump_pid,) = query("postgresql", server, name,
                            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'pg_dump'")[0]

        result = project.deploy("--blocker-wait", "1s", "--lock-timeout", "300ms", "--retries", "0")
    finally:
        dump.kill()
        dump.communicate()

    assert result.code == 3, result.out + result.err
    assert f"   pid {dump_pid} pg_dump (" in result.out  # in the preflight report
    assert f"(waiting for pid {dump_pid} pg_dump (" in result.out  # and in the failure
