"""Run the after-commit steps of an online form: idempotent, retried on lock timeouts, cleaned up.

Each step runs in autocommit on the migration's own connection, so the
session's lock timeout bounds how long it can make traffic queue; a lock
timeout is retried with backoff and jitter for as long as the retry policy's
budget allows (the application waits at most one lock timeout per attempt).
A concurrent index build that fails leaves an INVALID index behind: it is
dropped, CONCURRENTLY, before the step is retried or given up.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from migration_pilot.online.statements import Step
from migration_pilot.pipeline.events import Event, EventSink, ignore
from migration_pilot.pipeline.timeouts import is_lock_timeout


class OnlineStepError(Exception):
    """An after-commit step failed: the migration's transactional part had already committed."""

    def __init__(self, step: Step, cause: BaseException, *, lock_timeout: bool) -> None:
        super().__init__(f"{step.label} failed after the migration's transaction committed:"
                         f" {' '.join(str(cause).split())[:300] or type(cause).__name__}")
        self.step = step
        self.cause = cause
        self.lock_timeout = lock_timeout


def run_steps(connection: Any, steps: Sequence[Step], *, retry: Any, emit: EventSink = ignore) -> int:
    """Run `steps` in order; the number of lock-timeout retries. Raises OnlineStepError."""
    retries = 0
    for step in steps:
        retries += _run_one(connection, step, retry, emit)
    return retries


def retry_lock_timeouts(attempt: Callable[[], None], retry: Any, emit: EventSink, *, label: str) -> int:
    """Call `attempt` until it does not time out on a lock, within the retry policy; the retries made."""
    tries, waited = 0, 0.0
    while True:
        started = time.monotonic()
        try:
            attempt()
            return tries
        except Exception as exc:
            waited += time.monotonic() - started
            if not (is_lock_timeout(exc) and retry.allows(tries, waited)):
                raise
            delay = retry.delay(tries)
            tries += 1
            emit(Event("lock_timeout_retry", f"   lock timeout: {label}; retry {tries} in {delay:.1f}s",
                       {"step": label, "attempt": tries}))
            time.sleep(delay)
            waited += delay


def _run_one(connection: Any, step: Step, retry: Any, emit: EventSink) -> int:
    if step.kind == "swap":
        from migration_pilot.online.swap import run_swap

        run_swap(connection, step, retry=retry, emit=emit)
        return 0
    if step.done_if and _any_row(connection, step.done_if):
        emit(Event("online_step", f"   online: {step.label}: already done", {"step": step.label, "skipped": True}))
        return 0
    attempt = 0
    waited = 0.0
    while True:
        started = time.monotonic()
        try:
            if step.kind == "index":
                drop_invalid_index(connection, step.index)
            patience = patient(connection, retry) if step.kind in _TRAFFIC_GOES_ON else contextlib.nullcontext()
            with patience, connection.cursor() as cursor:
                cursor.execute(step.sql)
            if step.kind == "index" and not _index_valid(connection, step.index):
                raise RuntimeError(f"index {step.index} was left INVALID by its concurrent build")
        except Exception as exc:
            if step.kind == "index":
                with contextlib.suppress(Exception):
                    drop_invalid_index(connection, step.index)
            locked = is_lock_timeout(exc)
            waited += time.monotonic() - started
            if locked and retry.allows(attempt, waited):
                delay = retry.delay(attempt)
                attempt += 1
                emit(Event("lock_timeout_retry", f"   lock timeout: {step.label}; retry {attempt} in {delay:.1f}s",
                           {"step": step.label, "attempt": attempt}))
                time.sleep(delay)
                waited += delay
                continue
            raise OnlineStepError(step, exc, lock_timeout=locked) from exc
        emit(Event("online_step", f"   online: {step.label} ({time.monotonic() - started:.2f}s)",
                   {"step": step.label, "duration_s": time.monotonic() - started}))
        return attempt


# Steps whose lock lets reads and writes go on (SHARE UPDATE EXCLUSIVE): nobody queues behind
# them, so they wait for other transactions (a concurrent build waits for every older writer)
# within the lock-wait budget instead of the short lock timeout meant to protect traffic.
_TRAFFIC_GOES_ON = frozenset({"index", "validate"})


@contextlib.contextmanager
def patient(connection: Any, retry: Any) -> Iterator[None]:
    """The session's lock timeout raised to the retry budget while inside (for steps that block no traffic)."""
    budget = int((getattr(retry, "budget", 0) or 0) * 1000)
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('lock_timeout')")
        previous = cursor.fetchone()[0]
        cursor.execute("SELECT set_config('lock_timeout', %s, false)", [f"{budget}ms"])
    try:
        yield
    finally:
        with contextlib.suppress(Exception), connection.cursor() as cursor:
            cursor.execute("SELECT set_config('lock_timeout', %s, false)", [previous])


def _any_row(connection: Any, query: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(query)
        return cursor.fetchone() is not None


def _index_valid(connection: Any, name: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT x.indisvalid FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid"
                       " JOIN pg_namespace n ON n.oid = i.relnamespace"
                       " WHERE i.relname = %s AND n.nspname = ANY(current_schemas(false))", [name])
        row = cursor.fetchone()
    return bool(row and row[0])


def drop_invalid_index(connection: Any, name: str) -> bool:
    """DROP INDEX CONCURRENTLY an INVALID index of this name (a failed or killed build); whether one was."""
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute("SELECT n.nspname FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid"
                       " JOIN pg_namespace n ON n.oid = i.relnamespace"
                       " WHERE i.relname = %s AND NOT x.indisvalid AND n.nspname = ANY(current_schemas(false))",
                       [name])
        row = cursor.fetchone()
        if row is None:
            return False
        cursor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {quote(row[0])}.{quote(name)}")
    return True
