from __future__ import annotations

import threading
import time

import pytest

from tests.databases import admin_connection, scratch_database


@pytest.fixture
def pg_database(postgresql_server):
    """(server, name) of a scratch PostgreSQL database with table t (a few rows)."""
    with scratch_database(postgresql_server, "pilot_monitor") as name:
        with admin_connection(postgresql_server, name) as conn:
            conn.execute("CREATE TABLE t (id int PRIMARY KEY, note text)")
            conn.execute("INSERT INTO t SELECT g, 'x' FROM generate_series(1, 10) g")
        yield postgresql_server, name


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
