"""Apply (or unapply) planned migrations one at a time, bounded and recorded.

Each migration runs under the session lock/statement timeouts. A lock timeout
in a migration that ran in one transaction rolled back completely, so it is
retried with capped exponential backoff and jitter; anything else stops the
run. Per migration we record wall time, time lost to lock timeouts, retries,
statements, rows affected by DML, and WAL bytes (PostgreSQL).
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from migration_pilot.pipeline import invalid_indexes
from migration_pilot.pipeline.edits import file_digest
from migration_pilot.pipeline.events import Event, EventSink
from migration_pilot.pipeline.heap import frozen_heap
from migration_pilot.pipeline.journal import apply_journaled
from migration_pilot.pipeline.timeouts import Timeouts, is_lock_timeout, session_timeouts
from migration_pilot.types import MigrationKey

_DML = ("UPDATE", "INSERT", "DELETE", "MERGE")
_READS = ("SELECT", "SHOW", "SET ", "PRAGMA", "EXPLAIN", "WITH ")
_BOOKKEEPING = "migration_pilot_"


@dataclass
class Retry:
    """How lock timeouts are retried: at most `attempts` times (None: no count), within `budget` seconds.

    The budget is the lock-queue protection: with a short lock timeout, each
    attempt makes the application wait at most that long, and the deploy keeps
    trying, with backoff and jitter, for as long as the budget allows (behind a
    long reader too).
    """

    attempts: int | None = None
    base_delay: float = 1.0
    max_delay: float = 10.0
    budget: float = 300.0

    def delay(self, attempt: int) -> float:
        """Capped exponential backoff with jitter (half to full delay)."""
        return float(min(self.max_delay, self.base_delay * (2**attempt)) * (0.5 + random.random() / 2))

    def allows(self, attempt: int, waited: float) -> bool:
        """Whether another attempt may follow `attempt` (0-based) after `waited` seconds of lock waits."""
        if self.attempts is not None and attempt >= self.attempts:
            return False
        return not self.budget or waited + self.delay(attempt) / 2 < self.budget


@dataclass
class StatementCounter:
    """execute_wrapper that counts statements and rows changed by DML."""

    statements: int = 0
    writes: int = 0
    rows: int = 0
    saw_rows: bool = False

    def __call__(self, execute: Callable[..., Any], sql: str, params: Any, many: bool,
                 context: dict[str, Any]) -> Any:
        result = execute(sql, params, many, context)
        text = str(sql)
        if _BOOKKEEPING in text or "django_migrations" in text:
            return result
        self.statements += 1
        head = text.lstrip().upper()
        if not head.startswith(_READS):
            self.writes += 1
        if head.startswith(_DML):
            count = getattr(context.get("cursor"), "rowcount", -1)
            if isinstance(count, int) and count >= 0:
                self.rows += count
                self.saw_rows = True
        return result


@dataclass
class MigrationResult:
    """What happened to one migration."""

    key: MigrationKey
    backwards: bool
    duration_s: float = 0.0
    lock_wait_s: float = 0.0
    retries: int = 0
    rows_affected: int | None = None
    wal_bytes: int | None = None
    statements: int = 0
    error: str | None = None
    lock_timeout: bool = False
    steps_done: int = 0
    dirty: bool = False
    file_sha256: str = ""
    impact: dict[str, Any] | None = None
    """The impact monitor's report for this migration (what other sessions felt), where sampled."""


@dataclass
class ApplyReport:
    """The outcome of applying a plan: what was done, the failure if any, and the state reached."""

    done: list[MigrationResult] = field(default_factory=list)
    failed: MigrationResult | None = None
    state: Any = None
    kept_defaults: list[tuple[str, str, MigrationKey]] = field(default_factory=list)
    """(table, column, migration): defaults the online form kept for the code still running."""


@contextlib.contextmanager
def _bookkeeping(db: str) -> Iterator[None]:
    """One short transaction for a history write, committed without waiting for the disk on PostgreSQL.

    Safe because every migration's own commit is synchronous and flushes the WAL
    written before it, history rows included: a row can be lost only together
    with the migration it describes. Saves a disk flush per migration, which is
    most of the bookkeeping's cost on a plan of hundreds of small migrations.
    """
    from django.db import connections, transaction

    with transaction.atomic(using=db):
        connection = connections[db]
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL synchronous_commit TO OFF")
        yield


class Recorder:
    """Writes MigrationRun rows for one DeployRun (no-op without a run).

    A migration that runs in one transaction gets its row written once, inside
    that transaction, next to Django's own django_migrations row: the history
    then says "applied" exactly when the migration is, and costs one INSERT
    instead of two extra commits. Only a migration that can half-apply (no
    transactional DDL, or atomic = False) gets a "running" row first, which
    survives a kill and says where it stopped.
    """

    def __init__(self, run: Any) -> None:
        self.run = run
        self.rows: list[Any] = []

    def start(self, key: MigrationKey, backwards: bool, *, may_half_apply: bool = True) -> Any:
        """The row for this migration; committed at once (as "running") only when it may half-apply."""
        if self.run is None:
            return None
        from migration_pilot.models import MigrationRun

        row = MigrationRun(run=self.run, app=key[0], name=key[1], backwards=backwards, started_at=timezone.now())
        if may_half_apply:
            with _bookkeeping(self.run._state.db):
                row.save(using=self.run._state.db)
        self.rows.append(row)
        return row

    def write(self, row: Any, result: MigrationResult) -> None:
        """Fill in the figures and the outcome, in whatever transaction is open."""
        if row is None:
            return
        row.finished_at = timezone.now()
        row.duration_s = result.duration_s
        row.lock_wait_s = result.lock_wait_s
        row.retries = result.retries
        row.rows_affected = result.rows_affected
        row.wal_bytes = result.wal_bytes
        row.statements = result.statements
        row.error = result.error or ""
        row.steps_done = result.steps_done
        row.file_sha256 = result.file_sha256
        row.impact = result.impact
        row.outcome = "failed" if result.error else ("unapplied" if result.backwards else "applied")
        row.dirty = result.dirty
        row.save(using=row._state.db)

    def finish(self, row: Any, result: MigrationResult) -> None:
        """Write the row in a short transaction of its own (failures, unapplied migrations)."""
        if row is None:
            return
        with _bookkeeping(row._state.db):
            self.write(row, result)

    def step(self, row: Any, steps_done: int) -> None:
        """Journal one finished operation (committed at once: the DDL before it already is)."""
        if row is None:
            return
        row.steps_done = steps_done
        row.save(using=row._state.db, update_fields=["steps_done"])


@contextlib.contextmanager
def _alongside_record(executor: MigrationExecutor, write: Callable[[], None]) -> Iterator[None]:
    """Call `write` in the same transaction as Django records the migration as applied.

    Django records inside the migration's own transaction when it can (and in
    autocommit after deferred SQL or for non-atomic migrations); wrapping the
    record in atomic(savepoint=False) joins the first case and makes the second
    one transaction of two rows. A squashed migration records each migration it
    replaces: `write` runs once.

    Inside the migration's transaction a failed record must not leave that
    transaction marked as broken (Django's save marks it): SQLite's schema
    editor checks foreign keys on its way out, before it rolls back, and on a
    transaction marked broken that check fails and the rollback never happens,
    leaving the connection stuck in the migration's atomic block (B6). The
    exception still propagates, so the transaction is rolled back all the same.
    """
    from django.db import transaction

    recorder = executor.recorder
    original = recorder.record_applied
    written = False

    def record(app: str, name: str) -> None:
        nonlocal written
        original(app, name)
        if not written:
            written = True
            write()

    def record_applied(app: str, name: str) -> None:
        connection = executor.connection
        if connection.in_atomic_block:
            try:
                record(app, name)
            except Exception:
                connection.needs_rollback = False
                raise
            return
        with transaction.atomic(using=executor.connection.alias, savepoint=False):
            record(app, name)

    recorder.record_applied = record_applied  # type: ignore[method-assign]
    try:
        yield
    finally:
        del recorder.record_applied


def _lsn(connection: Any) -> str | None:
    """The WAL insert position now (PostgreSQL), or None where WAL is not reported."""
    if connection.vendor != "postgresql":
        return None
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_current_wal_insert_lsn()::text")
            return str(cursor.fetchone()[0])
    except Exception:  # a standby or missing privilege: WAL is simply not reported
        return None


def _wal_since(connection: Any, start: str | None) -> tuple[int | None, str | None]:
    """(WAL bytes since `start`, the current position): the end of one migration starts the next.

    The insert position, not the write position: inside the migration's own
    transaction its WAL is inserted but not necessarily written yet.
    """
    if start is None:
        return None, None
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), %s::pg_lsn)::bigint,"
                           " pg_current_wal_insert_lsn()::text", [start])
            diff, now = cursor.fetchone()
            return int(diff), str(now)
    except Exception:
        return None, None


def _retryable(connection: Any, migration: Any, counter: StatementCounter) -> bool:
    """Whether a lock timeout left nothing behind, so running the migration again is safe.

    True when the migration ran in one transaction (rolled back whole), or when
    no statement that writes had succeeded yet (MySQL commits each DDL, but the
    one that timed out did nothing).
    """
    if migration.atomic and connection.features.can_rollback_ddl:
        return True
    return counter.writes == 0


def apply_forwards(connection: Any, keys: list[MigrationKey], *, timeouts: Timeouts, retry: Retry,
                   recorder: Recorder, emit: EventSink,
                   on_start: Callable[[Any], None] | None = None,
                   executor: MigrationExecutor | None = None, online: bool = True,
                   monitor: Any = None) -> ApplyReport:
    """Apply `keys` in order; stop at the first failure.

    One project state is carried from migration to migration, as `migrate`
    does; only after a failed attempt is it rebuilt from the recorded history
    (the failed attempt may have changed it half-way). `on_start` receives the
    state before the first migration (for pre_migrate). With `online` (the
    default), PostgreSQL runs each unsafe statement in its online form (see
    migration_pilot.online). A running `monitor` (migration_pilot.monitor)
    gets a window per migration, whose report goes into its history row; a
    statement its circuit breaker cancelled is retried like a lock timeout.
    """
    from migration_pilot.online import online_schema_editor

    executor = executor or MigrationExecutor(connection)
    state = executor._create_project_state(with_applied_migrations=True)
    if on_start is not None:
        on_start(state)
    report = ApplyReport()
    editors = (online_schema_editor(connection, retry=retry, emit=emit) if online
               else contextlib.nullcontext(None))
    with frozen_heap(), session_timeouts(connection, timeouts), editors as session:
        _apply_all(connection, executor, state, keys, retry, recorder, emit, report, session, monitor)
    if report.failed is None:
        # As `migrate` does: a squashed migration whose replaced migrations are all applied
        # is recorded as applied too, or the history reads half-squashed afterwards.
        executor.check_replacements()
    return report


def _apply_all(connection: Any, executor: MigrationExecutor, state: Any, keys: list[MigrationKey],
               retry: Retry, recorder: Recorder, emit: EventSink, report: ApplyReport,
               session: Any = None, monitor: Any = None) -> None:
    from migration_pilot.online import undo_committed_part
    from migration_pilot.online.coverage import may_run_after_commit

    total = len(keys)
    lsn = _lsn(connection)
    journaled = not connection.features.can_rollback_ddl
    for number, key in enumerate(keys, 1):
        migration = executor.loader.graph.nodes[key]
        emit(Event("migration_started", f"[{number}/{total}] Applying {key[0]}.{key[1]}...",
                   {"app": key[0], "name": key[1], "number": number, "total": total}))
        result = MigrationResult(key, backwards=False, file_sha256=file_digest(migration))
        after_commit = session is not None and may_run_after_commit(migration, state, session.existing_tables)
        # Without transactional DDL every migration commits step by step; with it, one marked
        # `atomic = False` does (B2): both are journaled, so a failure part-way is undone exactly.
        journal_steps = journaled or not migration.atomic
        row = recorder.start(key, backwards=False, may_half_apply=journal_steps or after_commit)
        started = time.monotonic()
        attempt = 0
        cleans_indexes = invalid_indexes.applies(connection, migration)
        if monitor is not None:
            monitor.mark(f"{key[0]}.{key[1]}", fresh=False)
        while True:
            attempt_started = time.monotonic()
            trips_before = _trips(monitor)
            counter = StatementCounter()
            invalid_before, stale = (_clear_stale_indexes(connection, migration, emit) if cleans_indexes
                                     else (set(), None))

            def on_step(done: int, row: Any = row, result: MigrationResult = result) -> None:
                result.steps_done = done
                recorder.step(row, done)

            def on_recorded(row: Any = row, result: MigrationResult = result,
                            counter: StatementCounter = counter, started: float = started) -> None:
                nonlocal lsn
                if monitor is not None:
                    result.impact = _impact(monitor.window())
                result.duration_s = time.monotonic() - started
                result.statements = counter.statements
                result.rows_affected = counter.rows if counter.saw_rows else None
                result.wal_bytes, lsn = _wal_since(connection, lsn)
                recorder.write(row, result)

            try:
                with connection.execute_wrapper(counter), _alongside_record(executor, on_recorded):
                    if journal_steps:
                        new_state = apply_journaled(executor, state, migration, on_step)
                    else:
                        new_state = executor.apply_migration(state, migration)
            except Exception as exc:
                # The attempt may have advanced the state part-way: rebuild it from what is recorded.
                state = MigrationExecutor(connection)._create_project_state(with_applied_migrations=True)
                online_failure = _online_failure(exc)
                undo_notes: list[str] = []
                if online_failure is not None:
                    # Its transaction had committed: unapply it now, so a failed migration leaves nothing.
                    why = undo_committed_part(connection, executor, state, migration)
                    undo_notes.append("its transactional part had committed and was undone" if why is None
                                      else f"its transactional part had committed and could not be undone ({why})")
                tripped = _trips(monitor) > trips_before
                locked = is_lock_timeout(exc) or tripped
                left = _clear_left_indexes(connection, invalid_before, emit) if cleans_indexes else None
                # What the error must say about indexes: a stale one that could not go, and whatever
                # this attempt left (dropped or not). One still in the way makes a retry pointless.
                notes = [c.describe() for c in (stale if stale and stale.left else None, left) if c is not None]
                index_in_the_way = any(c is not None and c.left for c in (stale, left))
                if (locked and online_failure is None and retry.allows(attempt, result.lock_wait_s)
                        and _retryable(connection, migration, counter) and not index_in_the_way):
                    result.lock_wait_s += time.monotonic() - attempt_started
                    delay = retry.delay(attempt)
                    attempt += 1
                    result.retries = attempt
                    of = f"/{retry.attempts}" if retry.attempts is not None else ""
                    why = "circuit breaker" if tripped else "lock timeout"
                    emit(Event("lock_timeout_retry",
                               f"   {why} on {key[0]}.{key[1]}; retry {attempt}{of}"
                               f" in {delay:.1f}s", {"app": key[0], "name": key[1], "attempt": attempt}))
                    time.sleep(delay)
                    continue
                if locked:
                    result.lock_wait_s += time.monotonic() - attempt_started
                result.lock_timeout = locked
                if tripped:
                    undo_notes.append(f"the circuit breaker cancelled it: {monitor.window().summary()}")
                if monitor is not None:
                    result.impact = _impact(monitor.window())
                result.error = "; ".join([_one_line(exc), *undo_notes, *notes, *_advice(exc, key)])
                result.dirty = journal_steps and result.steps_done > 0
                result.duration_s = time.monotonic() - started
                result.statements = counter.statements
                recorder.finish(row, result)
                report.failed = result
                report.state = state
                emit(Event("migration_failed", f"   FAILED {key[0]}.{key[1]}: {result.error}",
                           {"app": key[0], "name": key[1], "error": result.error}))
                return
            break
        state = new_state
        if session is not None and len(session.kept_defaults) > len(report.kept_defaults):
            for table, column in session.kept_defaults[len(report.kept_defaults):]:
                report.kept_defaults.append((table, column, key))
                emit(Event("kept_default", f"   online: kept the database default of {table}.{column} for the code"
                           " still running (it inserts without the column); run 'pilot deploy --phase post'"
                           " once the new release runs everywhere", {"table": table, "column": column}))
        result.duration_s = time.monotonic() - started
        if row is not None and row.pk is None:  # recorded without our hook (not expected): write it now
            recorder.finish(row, result)
        report.done.append(result)
        emit(Event("migration_applied", f"   OK {key[0]}.{key[1]} ({result.duration_s:.2f}s)",
                   {"app": key[0], "name": key[1], "duration_s": result.duration_s}))
        if result.impact and result.impact.get("sessions_blocked"):
            emit(Event("impact", f"   impact: {monitor.window().summary()}",
                       {"app": key[0], "name": key[1], "impact": result.impact}))
    report.state = state


def _impact(report: Any) -> dict[str, Any] | None:
    """The monitor's report as stored in the history row (None where nothing is sampled)."""
    return report.to_dict() if report.supported else None


def _trips(monitor: Any) -> int:
    """How many times the monitor's circuit breaker has fired so far (0 without a monitor)."""
    return len(monitor.report().trips) if monitor is not None else 0


def _online_failure(exc: BaseException) -> Any:
    """The OnlineStepError behind `exc`, if an after-commit step is what failed."""
    from migration_pilot.online import OnlineStepError

    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, OnlineStepError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def _clear_stale_indexes(connection: Any, migration: Any,
                         emit: EventSink) -> tuple[set[Any], invalid_indexes.Cleanup | None]:
    """Drop INVALID indexes an earlier run left under a name this migration builds.

    Returns the INVALID indexes there are before the attempt (so whatever a
    failed attempt adds can be told apart from what was already there) and the
    clean-up, if one was needed.
    """
    try:
        found = invalid_indexes.invalid_indexes(connection)
    except Exception:  # the attempt itself will report a broken connection
        return set(), None
    stale = {index for index in found if index.name in invalid_indexes.planned_index_names(migration)}
    if not stale:
        return found, None
    cleanup = invalid_indexes.drop(connection, stale)
    emit(Event("invalid_index", f"   {cleanup.describe()}", {"dropped": [i.name for i in cleanup.dropped]}))
    return found - set(cleanup.dropped), cleanup


def _clear_left_indexes(connection: Any, before: set[Any], emit: EventSink) -> invalid_indexes.Cleanup | None:
    """After a failed attempt: drop the INVALID indexes it left; the clean-up, or None when it left none."""
    try:
        left = invalid_indexes.invalid_indexes(connection) - before
    except Exception:  # the connection is gone: the index (if any) is named at the next deploy
        return None
    if not left:
        return None
    cleanup = invalid_indexes.drop(connection, left)
    emit(Event("invalid_index", f"   {cleanup.describe()}", {"dropped": [i.name for i in cleanup.dropped]}))
    return cleanup


def apply_backwards(connection: Any, keys: list[MigrationKey], *, timeouts: Timeouts,
                    recorder: Recorder, emit: EventSink, retry: Retry | None = None,
                    online: bool = True) -> ApplyReport:
    """Unapply `keys` in the given order (newest first), one at a time.

    A rollback meets the same traffic as a deploy: on PostgreSQL the reverse
    operations run in their online form too (an index the rollback re-creates
    is built CONCURRENTLY, a constraint it re-adds is validated after commit),
    and a lock timeout is retried within the same budget.
    """
    from migration_pilot.online import online_schema_editor

    retry = retry if retry is not None else Retry()
    editors = (online_schema_editor(connection, retry=retry, emit=emit, keep_defaults=False) if online
               else contextlib.nullcontext())
    with frozen_heap(), editors:
        return _unapply_all(connection, keys, timeouts, recorder, emit, retry)


def _unapply_all(connection: Any, keys: list[MigrationKey], timeouts: Timeouts, recorder: Recorder,
                 emit: EventSink, retry: Retry) -> ApplyReport:
    from migration_pilot.online import redo_committed_part

    report = ApplyReport()
    total = len(keys)
    for number, key in enumerate(keys, 1):
        executor = _executor_with_node(connection, key)
        migration = executor.loader.graph.nodes[key]
        emit(Event("migration_started", f"[{number}/{total}] Unapplying {key[0]}.{key[1]}...",
                   {"app": key[0], "name": key[1], "number": number, "total": total}))
        result = MigrationResult(key, backwards=True)
        row = recorder.start(key, backwards=True)
        started = time.monotonic()
        attempt = 0
        while True:
            attempt_started = time.monotonic()
            counter = StatementCounter()
            try:
                with session_timeouts(connection, timeouts), connection.execute_wrapper(counter):
                    executor.migrate([], plan=[(migration, True)])
            except Exception as exc:
                online_failure = _online_failure(exc)
                locked = is_lock_timeout(exc)
                if (locked and online_failure is None and retry.allows(attempt, result.lock_wait_s)
                        and _retryable(connection, migration, counter)):
                    result.lock_wait_s += time.monotonic() - attempt_started
                    delay = retry.delay(attempt)
                    attempt += 1
                    result.retries = attempt
                    emit(Event("lock_timeout_retry", f"   lock timeout on {key[0]}.{key[1]}; retry {attempt}"
                               f" in {delay:.1f}s", {"app": key[0], "name": key[1], "attempt": attempt}))
                    time.sleep(delay)
                    executor = _executor_with_node(connection, key)
                    migration = executor.loader.graph.nodes[key]
                    continue
                result.error = _one_line(exc)
                if online_failure is not None:
                    # Its transaction had committed (the migration still recorded as applied): put it back.
                    why = redo_committed_part(connection, migration)
                    result.error += ("; its transactional part had committed and was re-applied, so the migration"
                                     " is applied as before" if why is None else
                                     f"; its transactional part had committed and could not be re-applied ({why})")
                result.lock_timeout = locked
                result.duration_s = time.monotonic() - started
                recorder.finish(row, result)
                report.failed = result
                emit(Event("migration_failed", f"   FAILED to unapply {key[0]}.{key[1]}: {result.error}",
                           {"app": key[0], "name": key[1], "error": result.error}))
                return report
            break
        _unrecord_squashes_replacing(executor, key)
        result.duration_s = time.monotonic() - started
        result.statements = counter.statements
        recorder.finish(row, result)
        report.done.append(result)
        emit(Event("migration_unapplied", f"   OK unapplied {key[0]}.{key[1]} ({result.duration_s:.2f}s)",
                   {"app": key[0], "name": key[1]}))
    return report


def _executor_with_node(connection: Any, key: MigrationKey) -> MigrationExecutor:
    """An executor whose graph has `key`: without squash replacements when a squash replaced it (D5).

    Rolling back to a migration a fully applied squash replaced unapplies the
    replaced migrations after it, which only the graph without replacements
    holds (Django's migration_plan reloads it so for such a target).
    """
    executor = MigrationExecutor(connection)
    if key not in executor.loader.graph.nodes:
        executor.loader.replace_migrations = False
        executor.loader.build_graph()
    return executor


def _unrecord_squashes_replacing(executor: MigrationExecutor, key: MigrationKey) -> None:
    """Once `key` is unapplied, no squash that replaces it is applied either: drop its history row.

    Django leaves the squash's row behind (and ignores it while a replaced
    migration is missing); the history would then claim the squash applied.
    """
    for squash_key, migration in executor.loader.disk_migrations.items():
        if key in (migration.replaces or ()):
            executor.recorder.record_unapplied(*squash_key)


def _advice(exc: BaseException, key: MigrationKey) -> list[str]:
    """What to do about a failure the server explains only in its own terms ([] when nothing to add).

    "Pending trigger events" (PostgreSQL, B3): rows written earlier in the
    migration's transaction left deferred foreign-key checks queued, and an
    ALTER TABLE of the same table cannot run until they fire at commit.
    """
    if "pending trigger events" in str(exc):
        return [f"split {key[0]}.{key[1]} in two: the data change in one migration, the schema change of the"
                " same table in the next (each commits before the other starts)"]
    return []


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"[:500]
