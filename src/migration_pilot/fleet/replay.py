"""Replay a compiled script in one tenant schema: one transaction, its own timeouts and retries.

The transaction sets `search_path` with SET LOCAL, bounds every statement with
the deploy's lock and statement timeouts, runs the script, and records the
migrations in the schema's own django_migrations, so the schema changes and its
history commit together (or, with `gid`, are prepared for a two-phase commit).
Lock timeouts are retried with the deploy's backoff within its budget.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from migration_pilot.fleet.compile import Script
from migration_pilot.pipeline.apply import Retry
from migration_pilot.pipeline.timeouts import Timeouts, is_lock_timeout


@dataclass
class TenantResult:
    """How one tenant ended."""

    tenant: str
    outcome: str
    """migrated, prepared, failed (the tenant's own transaction rolled back)."""
    applied: list[tuple[str, str]] = field(default_factory=list)
    error: str = ""
    duration_s: float = 0.0
    retries: int = 0
    gid: str | None = None


def first_line(exc: BaseException) -> str:
    """The error's first line, the way a person reads it in a summary."""
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def search_path(schema: str, shared: Sequence[str], quote: Any) -> str:
    """`"tenant", "public"` for SET LOCAL search_path."""
    return ", ".join(quote(s) for s in (schema, *shared))


def replay(raw: Any, schema: str, script: Script, *, shared: Sequence[str], quote: Any, timeouts: Timeouts,
           retry: Retry, gid: str | None = None) -> TenantResult:
    """Run `script` in `schema` on `raw` (an autocommit psycopg connection); commit, or prepare as `gid`."""
    started = time.monotonic()
    attempt = 0
    waited = 0.0
    lock = f"{int((timeouts.lock or 0) * 1000)}ms"
    statement = f"{int(timeouts.statement * 1000)}ms"
    while True:
        tried = time.monotonic()
        try:
            # One round trip: the whole transaction as one simple-query string (no parameters).
            raw.execute(transaction(schema, script, shared=shared, quote=quote, lock=lock, statement=statement,
                                    gid=gid).encode())
        except Exception as exc:
            with contextlib.suppress(Exception):
                raw.execute("ROLLBACK")
            waited += time.monotonic() - tried
            if is_lock_timeout(exc) and retry.allows(attempt, waited):
                delay = retry.delay(attempt)
                time.sleep(delay)
                waited += delay
                attempt += 1
                continue
            return TenantResult(schema, "failed", error=first_line(exc), duration_s=time.monotonic() - started,
                                retries=attempt)
        return TenantResult(schema, "prepared" if gid else "migrated", list(script.keys),
                            duration_s=time.monotonic() - started, retries=attempt, gid=gid)


def transaction(schema: str, script: Script, *, shared: Sequence[str], quote: Any, lock: str, statement: str,
                gid: str | None) -> str:
    """BEGIN ... COMMIT (or PREPARE TRANSACTION gid) for one tenant: search_path, timeouts, the script, history."""
    rows = ", ".join(f"({quote_literal(app)}, {quote_literal(name)}, now())" for app, name in script.keys)
    end = f"PREPARE TRANSACTION {quote_literal(gid)}" if gid is not None else "COMMIT"
    # A tenant's commit need not wait for its WAL flush: the run's final record is a synchronous commit, which
    # flushes the WAL of every earlier one. Only a server crash mid-run can lose a tenant's commit, and then its
    # django_migrations row is lost with its DDL (one transaction): the tenant reads as not migrated and a rerun
    # applies it. Prepared transactions keep the server's setting.
    durability = "SET LOCAL synchronous_commit = off;\n" if gid is None else ""
    return (f"BEGIN;\n{durability}SET LOCAL search_path TO {search_path(schema, shared, quote)};\n"
            f"SET LOCAL lock_timeout = {quote_literal(lock)};\n"
            f"SET LOCAL statement_timeout = {quote_literal(statement)};\n"
            + (script.sql + "\n" if script.statements else "")
            + f"INSERT INTO django_migrations (app, name, applied) VALUES {rows};\n{end};")


def quote_literal(text: str) -> str:
    """A SQL string literal (gids are made of our own prefix and schema names)."""
    return "'" + text.replace("'", "''") + "'"
