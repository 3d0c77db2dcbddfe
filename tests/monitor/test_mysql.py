"""The impact monitor on a real MariaDB/MySQL server: metadata-lock waits, row-lock waits, the breaker."""

from __future__ import annotations

import json
import re
import time

from migration_pilot.management.commands.pilot import Command
from migration_pilot.monitor import ImpactMonitor
from tests.databases import admin_connection, django_connection
from tests.monitor.conftest import Timed, my_session, poll


def _state(server, cid):
    with admin_connection(server) as conn:
        cursor = conn.cursor()
        cursor.execute("SELECT STATE FROM information_schema.PROCESSLIST WHERE ID = %s", [cid])
        row = cursor.fetchone()
        cursor.close()
    return row[0] if row else None


def _run(conn, *statements):
    cursor = conn.cursor()
    try:
        for statement in statements:
            cursor.execute(statement)
        return cursor.fetchall()
    finally:
        cursor.close()


def test_reports_the_session_waiting_for_the_watched_ones_metadata_lock(my_database):
    server, name = my_database
    watched, watched_id = my_session(server, name)
    reader, reader_id = my_session(server, name)
    try:
        _run(watched, "LOCK TABLES t WRITE")
        with ImpactMonitor(server.django_settings(name), watch=watched_id, interval=0.05) as monitor:
            work = Timed(lambda: _run(watched, "SELECT SLEEP(1.0)", "UNLOCK TABLES"))
            work.start()
            select = Timed(lambda: _run(reader, "SELECT count(*) FROM t"))
            select.start()
            select.join(5)
            work.join(5)
            monitor.sample_now()
            report = monitor.report()
    finally:
        watched.close()
        reader.close()

    assert select.result == ((2,),)
    assert report.sessions_blocked == 1
    (blocked,) = report.blocked
    assert (blocked.pid, blocked.root, blocked.mode) == (reader_id, watched_id, "table metadata lock")
    assert blocked.query == "SELECT count(*) FROM t"
    assert select.took - 0.2 <= report.longest_wait_s <= select.took + 0.05
    assert report.errors == ()


def test_breaker_kills_the_watched_statement_that_queues_readers(my_database):
    server, name = my_database
    holder, _ = my_session(server, name)
    watched, watched_id = my_session(server, name)
    reader, reader_id = my_session(server, name)
    try:
        _run(holder, "START TRANSACTION", "SELECT * FROM t")  # a long reader the ALTER must wait for
        with ImpactMonitor(server.django_settings(name), watch=watched_id, interval=0.05, max_blocked=0.3) as monitor:
            alter = Timed(lambda: _run(watched, "SET SESSION lock_wait_timeout = 10",
                                       "ALTER TABLE t ADD COLUMN c int"))
            alter.start()
            poll(lambda: _state(server, watched_id) == "Waiting for table metadata lock")
            select = Timed(lambda: _run(reader, "SELECT count(*) FROM t"))
            select.start()
            select.join(5)
            alter.join(5)
            report = monitor.report()
    finally:
        _run(holder, "ROLLBACK")
        for conn in (holder, watched, reader):
            conn.close()

    import MySQLdb  # here, so that a missing driver skips (or fails) through the mysql_server fixture

    assert isinstance(alter.error, MySQLdb.OperationalError)
    assert alter.error.args[0] == 1317  # Query execution was interrupted
    assert select.result == ((2,),)
    assert select.took < 1.0
    (trip,) = report.trips
    assert (trip.pid, trip.blocked_pid, trip.cancelled) == (watched_id, reader_id, True)
    assert 0.3 <= trip.waited_s < 0.6
    assert re.search(rf"after session {reader_id} waited 0\.[3-5]\ds for table metadata lock \(limit 0\.3s\)\.$",
                     trip.detail), trip.detail
    assert report.watched_lock_wait_s > 0


def test_reports_row_lock_waits_with_their_blocker(my_database):
    server, name = my_database
    watched, watched_id = my_session(server, name)
    writer, writer_id = my_session(server, name)
    try:
        _run(watched, "START TRANSACTION", "UPDATE t SET note = 'm' WHERE id = 1")
        with ImpactMonitor(server.django_settings(name), watch=watched_id, interval=0.05) as monitor:
            update = Timed(lambda: _run(writer, "SET SESSION innodb_lock_wait_timeout = 5",
                                        "UPDATE t SET note = 'w' WHERE id = 1"))
            update.start()
            poll(lambda: monitor.latest().blocked, message=lambda: monitor.latest())
            time.sleep(0.3)
            _run(watched, "COMMIT")
            update.join(5)
            report = monitor.mark("after")
    finally:
        watched.close()
        writer.close()

    assert update.error is None
    (blocked,) = report.blocked
    assert (blocked.pid, blocked.root, blocked.blocked_by) == (writer_id, watched_id, (watched_id,))
    assert blocked.mode.startswith("row lock X")
    assert "t" in blocked.table
    assert 0.25 <= report.longest_wait_s <= update.took + 0.05
    assert report.lock_waits >= 1
    assert report.rows_written >= 1


def test_every_session_mode_reports_waiters_without_attributing_them(my_database):
    server, name = my_database
    watched, watched_id = my_session(server, name)
    reader, reader_id = my_session(server, name)
    try:
        _run(watched, "LOCK TABLES t WRITE")
        with ImpactMonitor(server.django_settings(name), interval=0.05) as monitor:
            select = Timed(lambda: _run(reader, "SELECT count(*) FROM t"))
            select.start()
            sample = poll(lambda: (s := monitor.latest()).blocked and s)
            _run(watched, "UNLOCK TABLES")
            select.join(5)
    finally:
        watched.close()
        reader.close()

    # The server is shared; sessions of this test's database are the only ones reported.
    assert [(b.pid, b.blocked_by) for b in sample.blocked] == [(reader_id, ())]
    assert sample.watched == ()


def test_pilot_monitor_once_json_with_pid(my_database, capsys):
    server, name = my_database
    watched, watched_id = my_session(server, name)
    reader, reader_id = my_session(server, name)
    try:
        _run(watched, "LOCK TABLES t WRITE")
        work = Timed(lambda: _run(watched, "SELECT SLEEP(1)", "UNLOCK TABLES"))
        work.start()
        select = Timed(lambda: _run(reader, "SELECT count(*) FROM t"))
        select.start()
        poll(lambda: _state(server, reader_id) == "Waiting for table metadata lock")
        with django_connection(server, name) as connection:
            Command().run_from_argv(["manage.py", "pilot", "monitor", "--database", connection.alias,
                                     "--pid", str(watched_id), "--once", "--format", "json"])
        select.join(5)
        work.join(5)
    finally:
        watched.close()
        reader.close()

    captured = capsys.readouterr()
    payload = json.loads(captured.out)
    assert (payload["vendor"], payload["watching"], payload["nothing_to_watch"]) == (
        "mysql", f"pids {watched_id}", False)
    (session,) = payload["sample"]["watched"]
    assert (session["pid"], session["query"]) == (watched_id, "SELECT SLEEP(1)")
    (blocked,) = payload["sample"]["blocked"]
    assert (blocked["pid"], blocked["root"], blocked["query"]) == (reader_id, watched_id, "SELECT count(*) FROM t")


def test_session_id_is_the_connection_id(my_database):
    from migration_pilot.monitor import session_id

    server, name = my_database
    with django_connection(server, name) as connection:
        with connection.cursor() as cursor:
            cursor.execute("SELECT CONNECTION_ID()")
            (expected,) = cursor.fetchone()

        assert session_id(connection) == expected


def test_pilot_monitor_once_text_without_pid_shows_every_wait_in_the_database(my_database, capsys):
    server, name = my_database
    holder, _ = my_session(server, name)
    reader, reader_id = my_session(server, name)
    try:
        _run(holder, "LOCK TABLES t WRITE")
        select = Timed(lambda: _run(reader, "SELECT count(*) FROM t"))
        select.start()
        poll(lambda: _state(server, reader_id) == "Waiting for table metadata lock")
        with django_connection(server, name) as connection:
            Command().run_from_argv(["manage.py", "pilot", "monitor", "--database", connection.alias, "--once"])
        _run(holder, "UNLOCK TABLES")
        select.join(5)
    finally:
        holder.close()
        reader.close()

    out = capsys.readouterr().out
    assert "(mysql), watching every session of this database" in out
    assert "MySQL and MariaDB sessions have no names" in out
    waiting = out.split("Sessions waiting for a lock", 1)[1]
    assert str(reader_id) in waiting and "table metadata lock" in waiting
