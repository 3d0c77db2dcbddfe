from __future__ import annotations

import threading
import time

import pytest

from tests import databases
from tests.databases import admin_connection, scratch_database


@pytest.fixture(scope="module")
def _pg_module_database(django_db_blocker):
    """One scratch PostgreSQL database per test module (None when the server is unreachable).

    Creating and force-dropping a database per test costs more than the tests
    themselves on a busy machine; pg_database resets its tables instead.
    """
    server, _ = databases.probe("postgresql")
    if server is None:
        yield None
        return
    with django_db_blocker.unblock(), scratch_database(server, "pilot_monitor") as name:
        yield name


@pytest.fixture
def pg_database(postgresql_server, _pg_module_database):
    """(server, name) of a PostgreSQL database with a fresh table t (ten rows) and no other sessions."""
    name = _pg_module_database
    with admin_connection(postgresql_server, name) as conn:
        # Sessions of the previous test may linger for a moment after their client closed them.
        poll(lambda: conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s"
                                  " AND pid <> pg_backend_pid()", [name]).fetchone() == (0,))
        conn.execute("DROP TABLE IF EXISTS t, big")
        conn.execute("CREATE TABLE t (id int PRIMARY KEY, note text)")
        conn.execute("INSERT INTO t SELECT g, 'x' FROM generate_series(1, 10) g")
    return postgresql_server, name


@pytest.fixture
def my_database(mysql_server):
    """(server, name) of a scratch MariaDB/MySQL database with InnoDB table t (a few rows)."""
    with scratch_database(mysql_server, "pilot_monitor") as name:
        with admin_connection(mysql_server, name) as conn:
            cursor = conn.cursor()
            cursor.execute("CREATE TABLE t (id int PRIMARY KEY, note varchar(10)) ENGINE=InnoDB")
            cursor.execute("INSERT INTO t VALUES (1, 'x'), (2, 'y')")
            cursor.close()
        yield mysql_server, name


def pg_session(server, name, application, *, autocommit=True):
    """A raw psycopg connection named `application`."""
    import psycopg

    return psycopg.connect(host=server.host, port=server.port, user=server.user, dbname=name,
                           application_name=application, autocommit=autocommit, connect_timeout=5)


def my_session(server, name):
    """A raw MySQLdb connection (autocommit) and its connection id."""
    import MySQLdb

    conn = MySQLdb.connect(host=server.host, port=server.port, user=server.user, password=server.password,
                           database=name, connect_timeout=5)
    conn.autocommit(True)
    cursor = conn.cursor()
    cursor.execute("SELECT CONNECTION_ID()")
    (cid,) = cursor.fetchone()
    cursor.close()
    return conn, int(cid)


class Timed(threading.Thread):
    """Runs `work()` in a thread, keeping its result or exception and when it started and ended."""

    def __init__(self, work):
        super().__init__(daemon=True)
        self.work = work
        self.result = None
        self.error = None
        self.started_at = self.ended_at = None

    def run(self):
        self.started_at = time.monotonic()
        try:
            self.result = self.work()
        except Exception as exc:
            self.error = exc
        finally:
            self.ended_at = time.monotonic()

    @property
    def took(self):
        return self.ended_at - self.started_at


def poll(condition, timeout=5.0, step=0.02, message=None):
    """Wait until condition() is truthy; returns its value (fails after timeout)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"condition not met within {timeout}s" + (f": {message()}" if message else ""))
