"""The batching engine on real databases: independent commits, exactly-once, per-row, adapting, throttling."""

from __future__ import annotations

import threading
import time

import pytest
from django.db.models import F, Q
from django.db.models.functions import Upper

from migration_pilot.backfill import (
    Analyzed,
    BackfillFinished,
    BatchCommitted,
    PerRow,
    SetValues,
    Throttled,
    Tuning,
    listening,
    run_backfill,
)
from migration_pilot.exceptions import BackfillConflictError, BackfillInTransactionError
from migration_pilot.models import BackfillCheckpoint
from tests import databases
from tests.backfill.conftest import prepare, raw_count

ROWS = 3000


def small_batches(**kwargs):
    """Fixed 250-row batches: enough of them to look at the run in the middle."""
    return Tuning(batch_size=250, min_batch_size=250, max_batch_size=250, **kwargs)


def test_each_batch_commits_and_a_second_connection_sees_it(vendor_connection):
    vendor, server, name, connection = vendor_connection
    Item = prepare(connection, ROWS)
    seen = []

    def look(event):
        if isinstance(event, BatchCommitted) and event.batch in (1, 6):
            seen.append((event.total_scanned,
                         raw_count(vendor, server, name, "SELECT COUNT(*) FROM bf_item WHERE n = 1"),
                         raw_count(vendor, server, name, "SELECT rows_done FROM migration_pilot_backfillcheckpoint")))

    run_backfill(Item, SetValues({"n": F("n") + 1}), name="visible", using=connection.alias,
                 tuning=small_batches(), on_event=look)

    assert seen == [(250, 250, 250), (1500, 1500, 1500)]


def test_every_row_is_updated_once_and_the_checkpoint_says_so(vendor_connection):
    vendor, server, name, connection = vendor_connection
    Item = prepare(connection, ROWS)

    result = run_backfill(Item, SetValues({"n": F("n") + 1}), name="once", using=connection.alias,
                          tuning=small_batches())
    again = run_backfill(Item, SetValues({"n": F("n") + 1}), name="once", using=connection.alias,
                         tuning=small_batches())

    assert raw_count(vendor, server, name, "SELECT COUNT(*) FROM bf_item WHERE n <> 1") == 0
    assert (result.rows_scanned, result.rows_done, result.batches, result.already_done) == (ROWS, ROWS, 12, False)
    assert again.already_done and again.batches == 12
    checkpoint = BackfillCheckpoint.objects.using(connection.alias).get(name="once")
    max_id = raw_count(vendor, server, name, "SELECT MAX(id) FROM bf_item")
    assert (checkpoint.state, checkpoint.last_key, checkpoint.end_key) == ("done", str(max_id), str(max_id))
    assert checkpoint.rows_done == ROWS and checkpoint.finished_at is not None and checkpoint.busy_s > 0


def test_where_limits_the_rows_and_expressions_compute_values(vendor_connection):
    vendor, server, name, connection = vendor_connection
    Item = prepare(connection, ROWS)

    result = run_backfill(Item, SetValues({"code": Upper("status")}, Q(status="paid")), name="paid",
                          using=connection.alias, tuning=small_batches())

    assert result.rows_scanned == ROWS and result.rows_done == ROWS // 3
    assert raw_count(vendor, server, name, "SELECT COUNT(*) FROM bf_item WHERE code = 'PAID'") == ROWS // 3
    assert raw_count(vendor, server, name, "SELECT COUNT(*) FROM bf_item WHERE code IS NOT NULL") == ROWS // 3


def fill_code(item):
    item.code = f"{item.status}-{item.id}"
    item.n += 1


def test_per_row_function_saves_its_fields_with_bulk_update(vendor_connection):
    vendor, server, name, connection = vendor_connection
    Item = prepare(connection, ROWS)
    batches = []

    result = run_backfill(Item, PerRow(fill_code, ("code", "n")), name="rows", using=connection.alias,
                          tuning=Tuning(batch_size=400, min_batch_size=400, max_batch_size=400),
                          on_event=lambda e: batches.append(e) if isinstance(e, BatchCommitted) else None)

    assert result.rows_done == ROWS and len(batches) == 8
    assert raw_count(vendor, server, name, "SELECT COUNT(*) FROM bf_item WHERE n = 1") == ROWS
    mismatched = ("SELECT COUNT(*) FROM bf_item WHERE code IS NULL OR code <> "
                  + ("status || '-' || id" if vendor != "mysql" else "CONCAT(status, '-', id)"))
    assert raw_count(vendor, server, name, mismatched) == 0


def test_batch_size_grows_while_batches_are_fast(vendor_connection):
    vendor, server, name, connection = vendor_connection
    Item = prepare(connection, ROWS)
    sizes = []

    run_backfill(Item, SetValues({"n": F("n") + 1}), name="grow", using=connection.alias,
                 tuning=Tuning(batch_size=20, batch_time=5.0),
                 on_event=lambda e: sizes.append(e.batch_size) if isinstance(e, BatchCommitted) else None)

    assert sizes[:4] == [20, 40, 80, 160]  # doubling: each step is capped at 2x
    assert len(sizes) < 12 and raw_count(vendor, server, name, "SELECT SUM(n) FROM bf_item") == ROWS


def test_a_failed_run_resumes_after_its_last_committed_batch(vendor_connection):
    vendor, server, name, connection = vendor_connection
    Item = prepare(connection, ROWS)
    poison = 1234

    def breaks_on_one_row(item):
        if item.id == poison:
            raise RuntimeError("bad row")
        item.n += 1

    with pytest.raises(RuntimeError, match="bad row"):
        run_backfill(Item, PerRow(breaks_on_one_row, ("n",)), name="resume", using=connection.alias,
                     tuning=small_batches())
    stopped = BackfillCheckpoint.objects.using(connection.alias).get(name="resume")
    done_before = raw_count(vendor, server, name, "SELECT COUNT(*) FROM bf_item WHERE n = 1")
    poison = -1
    resumed = run_backfill(Item, PerRow(breaks_on_one_row, ("n",)), name="resume", using=connection.alias,
                           tuning=small_batches())

    assert (stopped.state, stopped.error, stopped.last_key) == ("failed", "bad row", "1000")
    assert done_before == 1000
    assert resumed.rows_done == ROWS
    assert raw_count(vendor, server, name, "SELECT COUNT(*) FROM bf_item WHERE n <> 1") == 0


def test_a_second_process_on_the_same_checkpoint_rolls_back_instead_of_repeating_rows(vendor_connection):
    vendor, server, name, connection = vendor_connection
    Item = prepare(connection, ROWS)
    interloper = {"done": False}

    def other_process_moves_the_checkpoint(event):
        if isinstance(event, BatchCommitted) and not interloper["done"]:
            interloper["done"] = True
            BackfillCheckpoint.objects.using(connection.alias).filter(name="twice").update(batches=F("batches") + 1)

    with pytest.raises(BackfillConflictError, match="Another process advanced backfill twice"):
        run_backfill(Item, SetValues({"n": F("n") + 1}), name="twice", using=connection.alias,
                     tuning=small_batches(), on_event=other_process_moves_the_checkpoint)

    assert raw_count(vendor, server, name, "SELECT COUNT(*) FROM bf_item WHERE n = 1") == 250


def test_analyze_runs_at_the_end(vendor_connection):
    vendor, server, name, connection = vendor_connection
    Item = prepare(connection, ROWS)
    seen = []

    run_backfill(Item, SetValues({"n": 5}), name="stats", using=connection.alias, on_event=seen.append)

    assert [type(e) for e in seen[-2:]] == [Analyzed, BackfillFinished]
    if vendor == "postgresql":
        assert raw_count(vendor, server, name,
                         "SELECT last_analyze IS NOT NULL FROM pg_stat_user_tables WHERE relname = 'bf_item'")
    if vendor == "sqlite":
        assert raw_count(vendor, server, name, "SELECT COUNT(*) FROM sqlite_stat1 WHERE tbl = 'bf_item'") >= 1


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
             "SELECT COUNT(*) FROM information_schema.INNODB_TRX WHERE trx_state = 'LOCK WAIT' AND %s IS NOT NULL")
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
