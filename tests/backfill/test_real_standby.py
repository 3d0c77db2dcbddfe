"""Replica lag against a real streaming standby (catalogue I1): a paused replay pauses the backfill.

pg_stat_replication is server-wide, and another test run's standby may be
listed too: the backfill respects the largest lag of them all, and nothing
here assumes this test's standby is the only one.
"""

from __future__ import annotations

import threading
import time

import pytest
from django.db.models import F

from migration_pilot.backfill import BatchCommitted, SetValues, Throttled, Tuning, run_backfill
from tests import databases
from tests.backfill.conftest import prepare, raw_count
from tests.backfill.standby import Standby, pg_standby  # noqa: F401  (the fixture)

ROWS = 4000
MAX_LAG = 0.5
HELD = 1.5  # seconds the test watches the paused backfill before resuming replay

pytestmark = pytest.mark.postgresql


def test_backfill_waits_while_a_real_standby_does_not_replay(postgresql_server, pg_standby: Standby,  # noqa: F811
                                                             scratch_db_access):
    with databases.scratch_database(postgresql_server) as name, \
            databases.django_connection(postgresql_server, name) as connection:
        Item = prepare(connection, ROWS)
        events: list[object] = []
        seen: dict[str, object] = {}
        pg_standby.pause_replay()
        watcher = threading.Thread(target=_hold_then_resume, args=(postgresql_server, name, pg_standby, events, seen))
        watcher.start()
        try:
            started = time.monotonic()
            finished = run_backfill(
                Item, SetValues({"n": F("n") + 1}), name="real-standby", using=connection.alias,
                tuning=Tuning(batch_size=100, max_batch_size=100, batch_time=5.0, sleep=0.02,
                              max_lag=MAX_LAG, lag_poll=0.1), on_event=events.append)
            elapsed = time.monotonic() - started
        finally:
            pg_standby.resume_replay()  # never leave the standby paused, even when the backfill failed
            watcher.join()

        assert "error" not in seen, seen.get("error")
        lag_waits = [e for e in events if isinstance(e, Throttled) and e.reason == "replica_lag"]
        assert lag_waits and "replica replay lag" in lag_waits[0].detail
        # Nothing committed while the standby stood still, as seen from the table, the checkpoint and the events.
        assert seen["rows_done_before"] == seen["rows_done_after"] < ROWS
        assert seen["batches_before"] == seen["batches_after"]
        assert seen["events_before"] == seen["events_after"]
        committed = [e for e in events if isinstance(e, BatchCommitted)]
        assert sum(e.rows_updated for e in committed) == ROWS
        assert raw_count("postgresql", postgresql_server, name, "SELECT COUNT(*) FROM bf_item WHERE n <> 1") == 0
        assert finished.rows_done == ROWS and not finished.already_done
        assert elapsed >= HELD
        # Replayed again, this standby's lag drops back under the limit (NULL once it is idle and caught up).
        assert _eventually_below(postgresql_server, pg_standby.application_name, MAX_LAG)


def _hold_then_resume(server, name, standby, events, seen):
    """Wait for the backfill to wait on replica lag, watch it stand still for HELD seconds, resume replay."""
    try:
        deadline = time.monotonic() + 15
        while not any(isinstance(e, Throttled) and e.reason == "replica_lag" for e in list(events)):
            if time.monotonic() > deadline:
                raise AssertionError("the backfill never waited for replica lag")
            time.sleep(0.02)
        seen["events_before"] = _batches(events)
        seen["rows_done_before"], seen["batches_before"] = _progress(server, name)
        time.sleep(HELD)
        seen["rows_done_after"], seen["batches_after"] = _progress(server, name)
        seen["events_after"] = _batches(events)
    except BaseException as exc:  # reported by the test, after the backfill finished
        seen["error"] = f"{type(exc).__name__}: {exc}"
    finally:
        standby.resume_replay()


def _batches(events) -> int:
    return sum(1 for e in list(events) if isinstance(e, BatchCommitted))


def _progress(server, name) -> tuple[int, int]:
    """(rows updated in the table, batches in the checkpoint row), read from a separate connection."""
    rows = raw_count("postgresql", server, name, "SELECT COUNT(*) FROM bf_item WHERE n = 1")
    batches = raw_count("postgresql", server, name,
                        "SELECT batches FROM migration_pilot_backfillcheckpoint WHERE name = 'real-standby'")
    return rows, batches


def _eventually_below(server, application_name: str, limit: float, timeout: float = 10.0) -> bool:
    """Whether this test's standby (not another run's) reports a replay lag within `limit` in time."""
    deadline = time.monotonic() + timeout
    with databases.admin_connection(server) as conn:
        cursor = conn.cursor()
        while time.monotonic() < deadline:
            cursor.execute("SELECT COALESCE(EXTRACT(EPOCH FROM replay_lag), 0) FROM pg_stat_replication"
                           " WHERE application_name = %s", [application_name])
            row = cursor.fetchone()
            if row is not None and row[0] <= limit:
                return True
            time.sleep(0.1)
    return False
