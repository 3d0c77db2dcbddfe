"""The batching engine: keyset windows on the primary key, each committed with its checkpoint.

One batch = one transaction: find the window's upper key, do the work on the
rows in (last key, upper key], move the checkpoint to the upper key, commit.
A crash loses at most the batch in flight, whose rows the database rolls back
with its checkpoint update, so a resume starts exactly after the last
committed window and no row is processed twice. The checkpoint update is
guarded by the batch count this process last saw: a second process running
the same backfill makes one of them roll back instead of doing rows twice.
"""

from __future__ import annotations

import os
import random
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, connections, models, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import F
from django.db.utils import DatabaseError
from django.utils import timezone

from migration_pilot.backfill import keys, probes
from migration_pilot.backfill.events import (
    Analyzed,
    BackfillFinished,
    BackfillStarted,
    BatchCommitted,
    Listener,
    Throttled,
    emit,
)
from migration_pilot.backfill.sizing import BatchSizer
from migration_pilot.backfill.work import PerRow, SetValues, Work, validate
from migration_pilot.exceptions import (
    BackfillConflictError,
    BackfillInTransactionError,
    CheckpointTableMissingError,
)

CHECKPOINT_TABLE = "migration_pilot_backfillcheckpoint"


@dataclass(frozen=True, slots=True)
class Tuning:
    """How hard a backfill pushes; the defaults suit a busy OLTP table."""

    batch_time: float = 0.1  # target seconds per batch; the size adapts to it
    batch_size: int | None = None  # first batch's rows (default: 1000 set-based, 100 per row)
    min_batch_size: int = 10
    max_batch_size: int = 1_000_000
    sleep: float = 0.0  # pause between batches
    max_lag: float | None = 5.0  # pause while a replica is further behind (PostgreSQL)
    lag_poll: float = 1.0  # also how often the lag is read while it is fine
    lock_timeout: float = 1.0  # per batch; on timeout the batch rolls back, sleeps and retries smaller
    lock_retries: int = 20  # consecutive lock timeouts before giving up
    lock_sample_interval: float = 0.05  # 0 turns the lock-wait sampler off
    max_throttle: float = 2.0  # longest sleep after a batch that waited on locks
    analyze: bool = True
    lag_probe: Callable[[BaseDatabaseWrapper], float | None] = probes.replica_lag

    def first_size(self, work: Work) -> int:
        return self.batch_size or (1000 if isinstance(work, SetValues) else 100)


def run_backfill(model: type[models.Model], work: Work, *, name: str, using: str = "default",
                 tuning: Tuning | None = None, on_event: Listener | None = None,
                 description: str = "", spec: dict[str, Any] | None = None) -> BackfillFinished:
    """Run (or resume) the backfill `name` of `model` on database `using`; returns its summary.

    Usable from RunPython with the historical model: `run_backfill(apps.get_model("shop", "Order"),
    SetValues({"status_code": Upper("status")}), name="shop.order.status_code",
    using=schema_editor.connection.alias)` in a migration with atomic = False.
    """
    return Backfiller(model, work, name=name, using=using, tuning=tuning or Tuning(), on_event=on_event,
                      description=description, spec=spec or {}).run()


class Backfiller:
    """One run of one backfill; see the module docstring for the guarantees."""

    def __init__(self, model: type[models.Model], work: Work, *, name: str, using: str, tuning: Tuning,
                 on_event: Listener | None, description: str, spec: dict[str, Any]) -> None:
        self.model, self.work, self.name, self.using = model, work, name, using
        self.tuning, self.on_event, self.description, self.spec = tuning, on_event, description, spec
        self.connection: BaseDatabaseWrapper = connections[using]
        self.table: str = model._meta.db_table
        self.manager = model._base_manager.db_manager(using)
        self._lag_read_at = float("-inf")

    # -- the run -------------------------------------------------------------------------------
    def run(self) -> BackfillFinished:
        connection = self.connection
        if connection.vendor == "postgresql" and connection.in_atomic_block:
            raise BackfillInTransactionError(self.name)
        self.pk = keys.key_field(self.model)
        validate(self.model, self.work, self.using)
        self._require_table()
        checkpoint = self._checkpoint()
        if checkpoint.state == "done":
            finished = BackfillFinished(self.name, self.table, checkpoint.rows_scanned, checkpoint.rows_done,
                                        checkpoint.batches, 0.0, 0.0, already_done=True)
            emit(finished, self.on_event)
            return finished
        try:
            return self._run(checkpoint)
        except BaseException as exc:
            self._mark_stopped(checkpoint, exc)
            raise

    def _run(self, cp: Any) -> BackfillFinished:
        tuning = self.tuning
        resumed = cp.batches > 0
        self.seen_batches = cp.batches
        self._claim(cp)
        sizer = BatchSizer(tuning.batch_time, cp.batch_size or tuning.first_size(self.work),
                           tuning.min_batch_size, tuning.max_batch_size)
        if resumed:
            sizer.shrink()  # the table may be busier than when the last run stopped
        emit(BackfillStarted(self.name, self.table, resumed, cp.last_key, cp.end_key, cp.rows_scanned,
                             cp.rows_total, sizer.size), self.on_event)
        self.last = keys.from_text(self.pk, cp.last_key)
        self.end = keys.from_text(self.pk, cp.end_key)
        self.totals = {"scanned": cp.rows_scanned, "done": cp.rows_done}
        started = time.monotonic()
        scanned_this_run = 0
        lock_failures = 0
        with probes.LockTimeout(self.connection, tuning.lock_timeout), probes.AsyncCommit(self.connection), \
                probes.LockWaitSampler(self.connection, tuning.lock_sample_interval) as sampler:
            while self.end is not None and (self.last is None or self.last < self.end):
                self._wait_for_replicas()
                size = sizer.size
                sampler.take()
                began = time.monotonic()
                try:
                    scanned, updated, upper = self._batch(size, cp)
                except DatabaseError as exc:
                    if not probes.is_lock_failure(exc, self.connection.vendor):
                        raise
                    lock_failures += 1
                    if lock_failures > tuning.lock_retries:
                        raise
                    sizer.shrink()
                    pause = min(5.0, tuning.batch_time * 2 ** lock_failures) * (0.5 + random.random() / 2)
                    emit(Throttled(self.name, "lock_timeout", pause,
                                   f"batch rolled back after waiting {tuning.lock_timeout:g}s for a lock"),
                         self.on_event)
                    self._add_throttle(pause)
                    time.sleep(pause)
                    continue
                lock_failures = 0
                duration = time.monotonic() - began
                waited = min(duration, sampler.take())
                scanned_this_run += scanned
                next_size = sizer.observe(scanned, duration - waited)
                if waited > 0:
                    next_size = sizer.shrink()
                elapsed = time.monotonic() - started
                rate = scanned_this_run / elapsed if elapsed > 0 else 0.0
                remaining = None if cp.rows_total is None else max(0, cp.rows_total - self.totals["scanned"])
                eta = remaining / rate if remaining is not None and rate > 0 else None
                emit(BatchCommitted(self.name, self.seen_batches, scanned, updated, keys.to_text(upper), duration,
                                    waited, size, next_size, self.totals["scanned"], self.totals["done"],
                                    cp.rows_total, rate, eta), self.on_event)
                pause = tuning.sleep
                if waited > 0:
                    throttle = min(tuning.max_throttle, max(waited, tuning.batch_time))
                    emit(Throttled(self.name, "lock_wait", throttle,
                                   f"the batch waited {waited:.3f}s on locks held by other sessions"),
                         self.on_event)
                    pause += throttle
                elif pause > 0:
                    emit(Throttled(self.name, "sleep", pause), self.on_event)
                if pause > 0:
                    self._add_throttle(pause)
                    time.sleep(pause)
        if self.tuning.analyze:
            began = time.monotonic()
            probes.analyze(self.connection, self.table)
            emit(Analyzed(self.name, self.table, time.monotonic() - began), self.on_event)
        self._update(cp, state="done", finished_at=timezone.now(), error="")
        elapsed = time.monotonic() - started
        finished = BackfillFinished(self.name, self.table, self.totals["scanned"], self.totals["done"],
                                    self.seen_batches, elapsed,
                                    scanned_this_run / elapsed if elapsed > 0 else 0.0)
        emit(finished, self.on_event)
        return finished

    # -- one batch ------------------------------------------------------------------------------
    def _batch(self, size: int, cp: Any) -> tuple[int, int, Any]:
        """One window in one transaction with its checkpoint; returns (rows scanned, rows changed, upper key)."""
        began = time.monotonic()
        with transaction.atomic(using=self.using):
            window = self.manager.all()
            if self.last is not None:
                window = window.filter(pk__gt=self.last)
            keys_after = window.filter(pk__lte=self.end).order_by("pk").values_list("pk", flat=True)
            found = list(keys_after[size - 1:size])
            upper = found[0] if found else None
            if upper is None:
                upper = self.end
                scanned = keys_after.count()
            else:
                scanned = size
            window = window.filter(pk__lte=upper)
            if self.work.where is not None:
                window = window.filter(self.work.where)
            if isinstance(self.work, SetValues):
                updated = window.update(**dict(self.work.assignments))
            else:
                updated = self._per_row(window, self.work)
            moved = self._checkpoints().filter(pk=cp.pk, batches=self.seen_batches).update(
                last_key=keys.to_text(upper), rows_scanned=F("rows_scanned") + scanned,
                rows_done=F("rows_done") + updated, batches=F("batches") + 1, batch_size=size,
                busy_s=F("busy_s") + (time.monotonic() - began), updated_at=timezone.now())
            if moved != 1:
                raise BackfillConflictError(self.name)
        self.seen_batches += 1
        self.last = upper
        self.totals["scanned"] += scanned
        self.totals["done"] += updated
        return scanned, updated, upper

    def _per_row(self, window: Any, work: PerRow) -> int:
        rows = window.order_by("pk")
        if work.lock_rows:
            rows = rows.select_for_update()  # no other writer changes a row between read and write
        changed = []
        for obj in rows.iterator(chunk_size=2000):
            work.function(obj)
            changed.append(obj)
        if changed:
            self.manager.bulk_update(changed, list(work.fields), batch_size=1000)
        return len(changed)

    # -- throttling -----------------------------------------------------------------------------
    def _wait_for_replicas(self) -> None:
        limit = self.tuning.max_lag
        now = time.monotonic()
        if not limit or now - self._lag_read_at < self.tuning.lag_poll:
            return
        self._lag_read_at = now
        while True:
            lag = self.tuning.lag_probe(self.connection)
            if lag is None or lag <= limit:
                return
            emit(Throttled(self.name, "replica_lag", self.tuning.lag_poll,
                           f"replica replay lag {lag:.1f}s is above {limit:g}s"), self.on_event)
            self._add_throttle(self.tuning.lag_poll)
            time.sleep(self.tuning.lag_poll)

    def _add_throttle(self, seconds: float) -> None:
        self._checkpoints().filter(name=self.name).update(throttled_s=F("throttled_s") + seconds)

    # -- the checkpoint row ---------------------------------------------------------------------
    def _checkpoints(self) -> Any:
        from migration_pilot.models import BackfillCheckpoint

        return BackfillCheckpoint.objects.using(self.using)

    def _require_table(self) -> None:
        with self.connection.cursor() as cursor:
            if CHECKPOINT_TABLE not in self.connection.introspection.table_names(cursor):
                raise CheckpointTableMissingError(self.using)

    def _checkpoint(self) -> Any:
        """The backfill's checkpoint, created with the key range and a row estimate on the first run."""
        existing = self._checkpoints().filter(name=self.name).first()
        if existing is not None:
            return existing
        end = self.manager.order_by("-pk").values_list("pk", flat=True).first()
        now = timezone.now()
        try:
            with transaction.atomic(using=self.using):
                return self._checkpoints().create(
                    name=self.name, table=self.table, description=self.description[:10000], spec=self.spec,
                    end_key=None if end is None else keys.to_text(end),
                    rows_total=0 if end is None else probes.estimate_rows(self.connection, self.table),
                    started_at=now, updated_at=now, host=socket.gethostname()[:255], pid=os.getpid(),
                    state="running")
        except IntegrityError:
            raise BackfillConflictError(self.name) from None  # another process created it just now

    def _claim(self, cp: Any) -> None:
        moved = self._checkpoints().filter(pk=cp.pk, batches=self.seen_batches).update(
            state="running", host=socket.gethostname()[:255], pid=os.getpid(), error="",
            updated_at=timezone.now())
        if moved != 1:
            raise BackfillConflictError(self.name)

    def _update(self, cp: Any, **values: Any) -> None:
        self._checkpoints().filter(pk=cp.pk).update(updated_at=timezone.now(), **values)

    def _mark_stopped(self, cp: Any, exc: BaseException) -> None:
        """Record why the run stopped; best effort, the committed batches are what counts."""
        if isinstance(exc, BackfillConflictError):
            return  # the other process owns the checkpoint now
        interrupted = isinstance(exc, KeyboardInterrupt | SystemExit)
        message = "" if interrupted else (str(exc).strip().splitlines() or [type(exc).__name__])[0][:2000]
        try:
            if self.connection.in_atomic_block:
                return  # the caller's transaction decides; it is rolling back
            self._update(cp, state="interrupted" if interrupted else "failed", error=message)
        except DatabaseError:
            pass
