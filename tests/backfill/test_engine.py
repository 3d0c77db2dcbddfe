"""The batching engine on real databases: independent commits, exactly-once, per-row, adapting, throttling."""

from __future__ import annotations

import pytest
from django.db.models import F, Q
from django.db.models.functions import Upper

from migration_pilot.backfill import (
    Analyzed,
    BackfillFinished,
    BatchCommitted,
    PerRow,
    SetValues,
    Tuning,
    run_backfill,
)
from migration_pilot.exceptions import BackfillConflictError
from migration_pilot.models import BackfillCheckpoint
from tests.backfill.conftest import prepare, raw_count

ROWS = 1500


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
    assert (result.rows_scanned, result.rows_done, result.batches, result.already_done) == (ROWS, ROWS, 6, False)
    assert again.already_done and again.batches == 6
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

    assert result.rows_done == ROWS and len(batches) == 4
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
