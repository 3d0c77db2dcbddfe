"""The impact monitor on a real PostgreSQL server: blocked sessions, the breaker, index builds."""

from __future__ import annotations

import time

import psycopg
import pytest

from migration_pilot.monitor import ImpactMonitor
from tests.databases import admin_connection
from tests.monitor.conftest import Timed, pg_session, poll

DEPLOY = "migration-pilot deploy"


def _lock_waiting(server, name, pid):
    with admin_connection(server, name) as conn:
        row = conn.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", [pid]).fetchone()
    return row is not None and row[0] == "Lock"


def test_reports_the_session_waiting_on_the_watched_one(pg_database):
    server, name = pg_database
    holder = pg_session(server, name, DEPLOY, autocommit=False)
    reader = pg_session(server, name, "shop web")
    reader_pid, holder_pid = reader.info.backend_pid, holder.info.backend_pid
    try:
        holder.execute("LOCK TABLE t IN ACCESS EXCLUSIVE MODE")
        with ImpactMonitor(server.django_settings(name), watch=DEPLOY, interval=0.05) as monitor:
            select = Timed(lambda: reader.execute("SELECT count(*) FROM t").fetchone())
            select.start()
            poll(lambda: _lock_waiting(server, name, reader_pid))
            time.sleep(1.0)
            holder.rollback()
            select.join(5)
            monitor.sample_now()
            report = monitor.report()
    finally:
        holder.close()
        reader.close()

    assert select.result == (10,)
    assert report.sessions_blocked == 1
    (blocked,) = report.blocked
    assert (blocked.pid, blocked.application, blocked.mode, blocked.table) == (
        reader_pid, "shop web", "AccessShareLock", "t")
    assert blocked.root == holder_pid
    # Sampled every 50 ms: the last sample sees the wait at most one interval (plus a query) before it ends.
    assert select.took - 0.2 <= report.longest_wait_s <= select.took + 0.05
    assert report.lock_wait_samples >= 10
    assert report.trips == ()
    assert report.errors == ()


def test_watches_by_pid_and_ignores_waits_on_other_sessions(pg_database):
    server, name = pg_database
    other = pg_session(server, name, "batch job", autocommit=False)
    watched = pg_session(server, name, DEPLOY)
    reader = pg_session(server, name, "shop web")
    watched_pid = watched.info.backend_pid
    try:
        other.execute("LOCK TABLE t IN ACCESS EXCLUSIVE MODE")
        with ImpactMonitor(server.django_settings(name), watch=watched.info.backend_pid, interval=0.05) as monitor:
            select = Timed(lambda: reader.execute("SELECT count(*) FROM t").fetchone())
            select.start()
            poll(lambda: _lock_waiting(server, name, reader.info.backend_pid))
            sample = monitor.sample_now()
            other.rollback()
            select.join(5)
            report = monitor.report()
    finally:
        other.close()
        watched.close()
        reader.close()

    assert [s.pid for s in sample.watched] == [watched_pid]
    assert sample.blocked == ()
    assert report.sessions_blocked == 0


def test_breaker_cancels_the_watched_statement(pg_database):
    server, name = pg_database
    watched = pg_session(server, name, DEPLOY, autocommit=False)
    reader = pg_session(server, name, "shop web")
    watched_pid, reader_pid = watched.info.backend_pid, reader.info.backend_pid

    def migration():
        try:
            watched.execute("LOCK TABLE t IN ACCESS EXCLUSIVE MODE")
            watched.execute("SELECT pg_sleep(5)")
        finally:
            watched.rollback()

    try:
        tripped = []
        with ImpactMonitor(server.django_settings(name), watch=DEPLOY, interval=0.05, max_blocked=0.3,
                           on_trip=tripped.append) as monitor:
            work = Timed(migration)
            work.start()
            poll(lambda: _lock_holder(server, name) == watched.info.backend_pid)
            select = Timed(lambda: reader.execute("SELECT count(*) FROM t").fetchone())
            select.start()
            select.join(5)
            work.join(5)
            report = monitor.report()
    finally:
        watched.close()
        reader.close()

    assert isinstance(work.error, psycopg.errors.QueryCanceled)
    assert select.result == (10,)
    assert select.took < 1.0
    assert report.tripped
    (trip,) = report.trips
    assert (trip.pid, trip.blocked_pid, trip.cancelled) == (watched_pid, reader_pid, True)
    assert 0.3 <= trip.waited_s < 0.6
    assert "Cancelled the statement of session" in trip.detail
    assert tripped == [trip]


def _lock_holder(server, name):
    with admin_connection(server, name) as conn:
        row = conn.execute("SELECT l.pid FROM pg_locks l WHERE l.relation = 't'::regclass"
                           " AND l.mode = 'AccessExclusiveLock' AND l.granted").fetchone()
    return row[0] if row else None


def test_sees_index_build_progress(pg_database):
    server, name = pg_database
    with admin_connection(server, name) as conn:
        conn.execute("CREATE TABLE big (id int, payload text)")
        conn.execute("INSERT INTO big SELECT g, md5(g::text) FROM generate_series(1, 400000) g")
    builder = pg_session(server, name, DEPLOY)
    builder_pid = builder.info.backend_pid
    seen = []
    try:
        with ImpactMonitor(server.django_settings(name), watch=DEPLOY, interval=0.02,
                           on_sample=lambda s: seen.extend(s.index_progress)) as monitor:
            builder.execute("CREATE INDEX CONCURRENTLY big_payload_idx ON big (payload)")
            report = monitor.stop()
    finally:
        builder.close()

    assert {p.pid for p in seen} == {builder_pid}
    assert {p.table for p in seen} == {"big"}
    assert any(p.phase.startswith("building index") and (p.blocks_total or p.tuples_total) for p in seen), (
        sorted({p.phase for p in seen}))
    assert report.index_progress is not None
    assert report.index_progress.index == "big_payload_idx"


def test_counts_rollbacks_and_rows_written(pg_database):
    server, name = pg_database
    app = pg_session(server, name, "shop web", autocommit=False)
    try:
        with ImpactMonitor(server.django_settings(name), watch=DEPLOY, interval=0.05) as monitor:
            for i in range(3):
                app.execute("INSERT INTO t VALUES (%s, 'y')", [100 + i])
                app.rollback()
            app.execute("INSERT INTO t SELECT g, 'z' FROM generate_series(200, 249) g")
            app.commit()
            app.close()  # a backend reports its counters at the latest when its session ends
            report = poll(lambda: (r := monitor.mark("after")) and r.rollbacks and r.rollbacks >= 3 and r)
    finally:
        app.close()

    assert report.rollbacks >= 3
    assert report.rows_written >= 53
    assert report.deadlocks == 0
    assert report.max_replica_lag_s is None


def test_a_sampling_failure_is_recorded_not_raised(postgresql_server):
    settings = postgresql_server.django_settings("pilot_monitor_no_such_database")

    with ImpactMonitor(settings, interval=0.05) as monitor:
        report = monitor.window()

    assert report.samples >= 1
    assert report.error_count == report.samples
    assert "pilot_monitor_no_such_database" in report.errors[0]
    assert report.sessions_blocked == 0


@pytest.mark.parametrize("value", [0, -1])
def test_rejects_a_bad_interval(value, postgresql_server):
    with pytest.raises(ValueError, match="interval"):
        ImpactMonitor(postgresql_server.django_settings("postgres"), interval=value)


def test_follows_the_lock_queue_behind_a_waiting_migration(pg_database):
    server, name = pg_database
    long_reader = pg_session(server, name, "report job", autocommit=False)
    watched = pg_session(server, name, DEPLOY)
    queued = pg_session(server, name, "shop web")
    watched_pid, queued_pid, long_pid = watched.info.backend_pid, queued.info.backend_pid, long_reader.info.backend_pid
    try:
        long_reader.execute("SELECT count(*) FROM t")  # holds ACCESS SHARE until it ends
        with ImpactMonitor(server.django_settings(name), watch=DEPLOY, interval=0.05) as monitor:
            alter = Timed(lambda: watched.execute("ALTER TABLE t ADD COLUMN extra int"))
            alter.start()
            poll(lambda: _lock_waiting(server, name, watched_pid))
            select = Timed(lambda: queued.execute("SELECT count(*) FROM t").fetchone())
            select.start()
            poll(lambda: _lock_waiting(server, name, queued_pid))
            sample = monitor.sample_now()
            long_reader.rollback()
            alter.join(5)
            select.join(5)
            report = monitor.report()
    finally:
        for conn in (long_reader, watched, queued):
            conn.close()

    (session,) = sample.watched
    assert session.waiting is not None
    assert (session.waiting.mode, session.waiting.table) == ("AccessExclusiveLock", "t")
    assert session.waiting.blocked_by == (long_pid,)
    (blocked,) = sample.blocked
    assert (blocked.pid, blocked.blocked_by, blocked.root) == (queued_pid, (watched_pid,), watched_pid)
    assert report.sessions_blocked == 1
    assert report.watched_lock_wait_s > 0


def test_reconnects_after_losing_its_connection(pg_database):
    server, name = pg_database

    with ImpactMonitor(server.django_settings(name), interval=0.05) as monitor:
        with admin_connection(server, name) as conn:
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                         " WHERE application_name = 'migration-pilot monitor' AND datname = %s", [name])
        poll(lambda: monitor.report().error_count >= 1)
        healthy = monitor.report().samples - monitor.report().error_count
        poll(lambda: monitor.report().samples - monitor.report().error_count > healthy)
        report = monitor.report()

    assert report.error_count >= 1
    assert "terminat" in report.errors[0] or "closed" in report.errors[0]
    assert monitor.latest().error is None


def test_mark_cuts_one_report_per_migration(pg_database):
    server, name = pg_database
    watched = pg_session(server, name, DEPLOY, autocommit=False)
    reader = pg_session(server, name, "shop web")
    reader_pid = reader.info.backend_pid
    try:
        with ImpactMonitor(server.django_settings(name), watch=DEPLOY, interval=0.05) as monitor:
            monitor.mark("shop.0002_quiet")
            watched.execute("SELECT 1")
            watched.commit()
            quiet = monitor.mark("shop.0003_blocking")
            watched.execute("LOCK TABLE t IN ACCESS EXCLUSIVE MODE")
            select = Timed(lambda: reader.execute("SELECT count(*) FROM t").fetchone())
            select.start()
            poll(lambda: _lock_waiting(server, name, reader_pid))
            time.sleep(0.3)
            watched.rollback()
            select.join(5)
            blocking = monitor.mark("")
            windows = monitor.windows()
    finally:
        watched.close()
        reader.close()

    assert (quiet.label, quiet.sessions_blocked, quiet.longest_wait_s) == ("shop.0002_quiet", 0, 0.0)
    assert (blocking.label, blocking.sessions_blocked, blocking.blocked[0].pid) == ("shop.0003_blocking", 1, reader_pid)
    assert 0.25 <= blocking.longest_wait_s <= select.took + 0.05
    assert [w.label for w in windows] == ["", "shop.0002_quiet", "shop.0003_blocking", ""]
    assert monitor.report().sessions_blocked == 1


def test_watches_a_django_connection_by_its_session_id(pg_database):
    from migration_pilot.monitor import session_id
    from migration_pilot.pipeline.preflight import named_session
    from tests.databases import django_connection

    server, name = pg_database
    reader = pg_session(server, name, "shop web")
    reader_pid = reader.info.backend_pid
    try:
        with django_connection(server, name) as connection, named_session(connection, "deploy"):
            pid = session_id(connection)
            with ImpactMonitor(connection.alias, watch=pid, interval=0.05) as monitor, connection.cursor() as cursor:
                cursor.execute("BEGIN")
                cursor.execute("LOCK TABLE t IN ACCESS EXCLUSIVE MODE")
                select = Timed(lambda: reader.execute("SELECT count(*) FROM t").fetchone())
                select.start()
                poll(lambda: _lock_waiting(server, name, reader_pid))
                sample = monitor.sample_now()
                cursor.execute("ROLLBACK")
                select.join(5)
    finally:
        reader.close()

    (session,) = sample.watched
    assert (session.pid, session.application) == (pid, DEPLOY)
    assert [(b.pid, b.root) for b in sample.blocked] == [(reader_pid, pid)]


def test_breaker_records_but_cannot_cancel_a_session_idle_in_transaction(pg_database):
    server, name = pg_database
    watched = pg_session(server, name, DEPLOY, autocommit=False)
    reader = pg_session(server, name, "shop web")
    watched_pid, reader_pid = watched.info.backend_pid, reader.info.backend_pid
    try:
        watched.execute("LOCK TABLE t IN ACCESS EXCLUSIVE MODE")
        with ImpactMonitor(server.django_settings(name), watch=DEPLOY, interval=0.05, max_blocked=0.2) as monitor:
            select = Timed(lambda: reader.execute("SELECT count(*) FROM t").fetchone())
            select.start()
            poll(lambda: monitor.report().tripped)
            time.sleep(0.2)
            still_waiting = _lock_waiting(server, name, reader_pid)
            watched.rollback()
            select.join(5)
            report = monitor.report()
    finally:
        watched.close()
        reader.close()

    assert still_waiting
    (trip,) = report.trips
    assert (trip.pid, trip.blocked_pid, trip.cancelled) == (watched_pid, reader_pid, False)
    assert trip.detail.startswith(f"Did not cancel session {watched_pid} ({DEPLOY}, idle in transaction):"
                                  " it runs no statement; session")
