"""Throttling on real databases: lock waits, lock timeouts, replica lag; refusal inside a transaction."""

from __future__ import annotations

import threading
import time

import pytest
from django.db.models import F

from migration_pilot.backfill import BatchCommitted, SetValues, Throttled, Tuning, listening, run_backfill
from migration_pilot.exceptions import BackfillInTransactionError
from migration_pilot.models import BackfillCheckpoint
from tests import databases
from tests.backfill.conftest import prepare, raw_count

ROWS = 3000


def test_refused_inside_a_transaction_on_postgresql(postgresql_server):
    from django.db import transaction

    with databases.scratch_database(postgresql_server) as name, \
            databases.django_connection(postgresql_server, name) as connection:
        Item = prepare(connection, 10)
        with transaction.atomic(using=connection.alias), pytest.raises(BackfillInTransactionError) as caught:
            run_backfill(Item, SetValues({"n": 1}), name="in-tx", using=connection.alias)

    assert "set atomic = False on the migration" in str(caught.value)


@pytest.mark.parametrize("vendor", ["postgresql", "mysql"])
def test_a_batch_that_waited_on_a_lock_throttles_and_shrinks(vendor, request, scratch_db_access):
    server = request.getfixturevalue(f"{vendor}_server")
    with databases.scratch_database(server) as name, databases.django_connection(server, name) as connection:
        Item = prepare(connection, ROWS)
        events = []
        names = []
        with databases.admin_connection(server, name) as holder:
            cursor = holder.cursor()
            if vendor == "postgresql":
                cursor.execute("BEGIN")
            else:
                holder.autocommit(False)
            cursor.execute("SELECT id FROM bf_item WHERE id = 600 FOR UPDATE")
            release = threading.Thread(target=_release_when_waited_on, args=(vendor, server, name, holder, names))
            release.start()
            run_backfill(Item, SetValues({"n": F("n") + 1}), name="locked", using=connection.alias,
                         tuning=Tuning(batch_size=250, max_batch_size=250, lock_timeout=30, batch_time=5.0,
                                       max_throttle=0.5, lock_sample_interval=0.01), on_event=events.append)
            release.join()

        throttles = [e for e in events if isinstance(e, Throttled) and e.reason == "lock_wait"]
        waited = [e for e in events if isinstance(e, BatchCommitted) and e.lock_wait_s > 0]
        assert len(throttles) == 1 and throttles[0].seconds == 0.5
        assert waited[0].last_key == "750" and waited[0].next_batch_size == 125
        assert raw_count(vendor, server, name, "SELECT COUNT(*) FROM bf_item WHERE n <> 1") == 0
        if vendor == "postgresql":  # pilot monitor finds the backfill by its session name
            assert names == ["migration-pilot backfill"]


def _release_when_waited_on(vendor, server, name, holder, names):
    """Hold the row lock until the backfill has been seen waiting for 0.3 s, then commit."""
    query = ("SELECT COUNT(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = %s"
             if vendor == "postgresql" else
             "SELECT COUNT(*) FROM information_schema.INNODB_TRX t JOIN information_schema.PROCESSLIST p"
             " ON p.ID = t.trx_mysql_thread_id WHERE t.trx_state = 'LOCK WAIT' AND p.DB = %s")
    deadline = time.monotonic() + 30
    with databases.admin_connection(server, name) as watcher:
        cursor = watcher.cursor()
        while time.monotonic() < deadline:
            cursor.execute(query, [name])
            if cursor.fetchone()[0]:
                break
            time.sleep(0.01 if vendor == "postgresql" else 0.2)  # InnoDB's snapshot goes stale if read faster
        if vendor == "postgresql":
            cursor.execute("SELECT application_name FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                           " AND datname = %s", [name])
            names.extend(row[0] for row in cursor.fetchall())
    time.sleep(0.3)
    holder.commit()


@pytest.mark.parametrize("vendor", ["postgresql", "mysql"])
def test_a_lock_timeout_rolls_the_batch_back_and_retries_it(vendor, request, scratch_db_access):
    server = request.getfixturevalue(f"{vendor}_server")
    with databases.scratch_database(server) as name, databases.django_connection(server, name) as connection:
        Item = prepare(connection, 1000)
        events = []

        def hold_then_release(event):
            if isinstance(event, Throttled) and event.reason == "lock_timeout":
                holder.commit()

        with databases.admin_connection(server, name) as holder:
            cursor = holder.cursor()
            if vendor == "postgresql":
                cursor.execute("BEGIN")
            else:
                holder.autocommit(False)
            cursor.execute("SELECT id FROM bf_item WHERE id = 300 FOR UPDATE")
            with listening(hold_then_release):
                run_backfill(Item, SetValues({"n": F("n") + 1}), name="timeout", using=connection.alias,
                             tuning=Tuning(batch_size=250, max_batch_size=250, lock_timeout=0.2,
                                           batch_time=0.05), on_event=events.append)

        timeouts = [e for e in events if isinstance(e, Throttled) and e.reason == "lock_timeout"]
        assert len(timeouts) == 1
        assert raw_count(vendor, server, name, "SELECT COUNT(*) FROM bf_item WHERE n <> 1") == 0
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_setting('lock_timeout')" if vendor == "postgresql"
                           else "SELECT @@SESSION.innodb_lock_wait_timeout")
            assert cursor.fetchone()[0] in {"0", 50}  # the session's own setting is back
            if vendor == "postgresql":
                cursor.execute("SELECT current_setting('synchronous_commit')")
                assert cursor.fetchone()[0] == "on"  # batches committed asynchronously, the session did not


def test_pauses_while_replicas_lag(tmp_path, scratch_db_access):
    with databases.django_connection(None, str(tmp_path / "lag.sqlite3")) as connection:
        Item = prepare(connection, 500)
        lags = iter([12.0, 7.5, 0.4])  # seconds behind, as pg_stat_replication would say, then caught up
        events = []

        run_backfill(Item, SetValues({"n": 1}), name="lag", using=connection.alias, on_event=events.append,
                     tuning=Tuning(batch_size=500, max_lag=5.0, lag_poll=0.01,
                                   lag_probe=lambda conn: next(lags, None)))
        throttled = BackfillCheckpoint.objects.using(connection.alias).get(name="lag").throttled_s

    pauses = [e for e in events if isinstance(e, Throttled)]
    assert [(p.reason, p.detail) for p in pauses] == [
        ("replica_lag", "replica replay lag 12.0s is above 5s"), ("replica_lag", "replica replay lag 7.5s is above 5s")]
    assert throttled == pytest.approx(0.02)


def test_replica_lag_is_none_without_replicas(postgresql_server):
    from migration_pilot.backfill.probes import replica_lag

    with databases.scratch_database(postgresql_server) as name, \
            databases.django_connection(postgresql_server, name) as connection:
        assert replica_lag(connection) is None
