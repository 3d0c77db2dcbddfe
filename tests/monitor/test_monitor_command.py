"""`pilot monitor`, run in-process through the real `pilot` command and its argument parser."""

from __future__ import annotations

import json

import pytest

from migration_pilot.management.commands.pilot import Command
from tests.databases import django_connection
from tests.monitor.conftest import pg_session, poll

DEPLOY = "migration-pilot deploy"


def pilot(capsys, *args):
    """(out, err, exit code) of `manage.py pilot ARGS`."""
    try:
        Command().run_from_argv(["manage.py", "pilot", *args])
        code = 0
    except SystemExit as exit_:
        code = exit_.code
    captured = capsys.readouterr()
    return captured.out, captured.err, code


@pytest.fixture
def pg_alias(pg_database):
    """(server, database name, alias) with the alias registered in django.db.connections."""
    server, name = pg_database
    with django_connection(server, name) as connection:
        yield server, name, connection.alias


@pytest.fixture
def blocker(pg_alias):
    """A 'migration-pilot deploy' session holding ACCESS EXCLUSIVE on t and a 'shop web' SELECT waiting on it."""
    server, name, alias = pg_alias
    holder = pg_session(server, name, DEPLOY, autocommit=False)
    reader = pg_session(server, name, "shop web")
    holder.execute("LOCK TABLE t IN ACCESS EXCLUSIVE MODE")
    reader_pid = reader.info.backend_pid
    reader.pgconn.send_query(b"SELECT count(*) FROM t")  # runs on the server; nobody waits for its result
    with pg_session(server, name, "test probe") as probe:
        poll(lambda: probe.execute("SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = %s",
                                   [reader_pid]).fetchone() == (True,))
    try:
        yield alias, holder.info.backend_pid, reader_pid
    finally:
        holder.rollback()
        holder.close()
        reader.close()


def test_once_json_names_the_blocker_and_the_session_it_blocks(capsys, blocker):
    alias, holder_pid, reader_pid = blocker

    out, err, code = pilot(capsys, "monitor", "--database", alias, "--once", "--format", "json")

    assert (code, err) == (0, "")
    payload = json.loads(out)
    assert (payload["vendor"], payload["watching"], payload["nothing_to_watch"]) == (
        "postgresql", "migration-pilot sessions", False)
    sample = payload["sample"]
    assert sample["error"] is None
    (watched,) = sample["watched"]
    assert (watched["pid"], watched["application"], watched["state"]) == (holder_pid, DEPLOY, "idle in transaction")
    assert "AccessExclusiveLock on t" in watched["holds"]
    (blocked,) = sample["blocked"]
    assert (blocked["pid"], blocked["application"], blocked["mode"], blocked["table"], blocked["root"]) == (
        reader_pid, "shop web", "AccessShareLock", "t", holder_pid)
    assert blocked["blocked_by"] == [holder_pid]
    assert blocked["wait_s"] > 0
    assert sample["counters"]["deadlocks"] is not None


def test_once_text_shows_both_tables(capsys, blocker):
    alias, holder_pid, reader_pid = blocker

    out, err, code = pilot(capsys, "monitor", "--database", alias, "--once")

    assert (code, err) == (0, "")
    assert f"Database {alias!r} (postgresql), watching migration-pilot sessions" in out
    watched, blocked = out.split("Sessions blocked by them")
    assert "Watched sessions" in watched and str(holder_pid) in watched and "AccessExclusiveLock on t" in watched
    assert str(reader_pid) in blocked and "shop web" in blocked and "AccessShareLock" in blocked
    assert "Database totals: rollbacks" in out


def test_live_json_streams_samples_then_the_report(capsys, blocker):
    alias, holder_pid, reader_pid = blocker

    out, err, code = pilot(capsys, "monitor", "--database", alias, "--duration", "600ms", "--interval", "100ms",
                           "--format", "json")

    assert (code, err) == (0, "")
    *samples, last = [json.loads(line) for line in out.splitlines()]
    assert len(samples) >= 3
    assert all(s["blocked"][0]["pid"] == reader_pid for s in samples)
    report = last["report"]
    assert (report["sessions_blocked"], report["blocked"][0]["pid"], report["tripped"]) == (1, reader_pid, False)
    assert report["longest_wait_s"] > 0.5


def test_says_when_there_is_nothing_to_watch(capsys, pg_alias):
    _, _, alias = pg_alias

    out, err, code = pilot(capsys, "monitor", "--database", alias, "--once")

    assert (code, err) == (0, "")
    assert f"No migration-pilot sessions running on {alias!r}: nothing to watch." in out


def test_sqlite_has_nothing_to_sample(capsys):
    out, err, code = pilot(capsys, "monitor", "--once")

    assert (code, err) == (0, "")
    assert out.startswith("Nothing to sample on database 'default': SQLite has no server sessions to sample")


@pytest.mark.parametrize(("args", "message"), [
    (["--interval", "0"], "error: --interval must be more than 0, such as 100ms or 1s (in --interval)."),
    (["--interval", "soon"], "error: Bad duration 'soon': write a number with a unit, such as 2s, 500ms, 5min or 1h"
                             " (in --interval)."),
    (["--duration=-1s"], "error: Bad duration '-1s': it cannot be negative"),
    (["--database", "nope"], "error: Unknown database alias 'nope'; settings.DATABASES defines default."),
])
def test_bad_input_is_one_line_and_exit_2(capsys, args, message):
    out, err, code = pilot(capsys, "monitor", "--once", *args)

    assert (out, code) == ("", 2)
    assert err.startswith(message)
    assert err.count("\n") == 1


def test_unreachable_server_is_one_line_and_exit_2(capsys, postgresql_server):
    with django_connection(postgresql_server, "pilot_monitor_missing_database") as connection:
        out, err, code = pilot(capsys, "monitor", "--database", connection.alias, "--once")

    assert (out, code) == ("", 2)
    assert err.startswith(f"error: Cannot connect to database alias {connection.alias!r} at 127.0.0.1:")
    assert "pilot_monitor_missing_database" in err
    assert err.count("\n") == 1
