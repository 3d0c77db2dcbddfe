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
            with raw.cursor() as cursor:
                cursor.execute("BEGIN")
                cursor.execute(f"SET LOCAL search_path TO {search_path(schema, shared, quote)}")
                cursor.execute("SELECT set_config('lock_timeout', %s, true), set_config('statement_timeout', %s,"
                               " true)", [lock, statement])
                if script.statements:
                    cursor.execute(script.sql.encode())
                cursor.execute("INSERT INTO django_migrations (app, name, applied) SELECT a, n, now()"
                               " FROM unnest(%s::text[], %s::text[]) AS t(a, n)",
                               [[a for a, _ in script.keys], [n for _, n in script.keys]])
                if gid is not None:
                    cursor.execute(f"PREPARE TRANSACTION {quote_literal(gid)}")
                else:
                    cursor.execute("COMMIT")
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


def quote_literal(text: str) -> str:
    """A SQL string literal (gids are made of our own prefix and schema names)."""
    return "'" + text.replace("'", "''") + "'"
