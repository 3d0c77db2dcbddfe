"""The deploy's schema editor: the project's own editor, with each unsafe statement in its online form.

`online_schema_editor(connection, ...)` makes the connection build its
schema editors from a subclass of the backend's own class (so PostGIS and
custom backends keep every behaviour of theirs) with `OnlineEditorMixin` in
front. The mixin sees every statement Django runs (operations, deferred SQL,
RunSQL) and asks `statements.rewrite()` for its online form:

- what stays in the migration's transaction runs in place;
- what must not hold the migration's locks waits in `pending` and runs after
  the transaction commits (or at once, in a migration with atomic = False);
- Django records the migration as applied only after that (the editor reports
  pending work as deferred SQL, which makes the executor record last), so
  "applied" still means the whole migration took effect.

A later statement of the same migration that names an object still pending
(an index, a unique constraint, a column waiting for NOT NULL) gets it in its
plain form first, inside the transaction: correctness before speed.
"""

from __future__ import annotations

import contextlib
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from migration_pilot.online.statements import Deferred, Rewrite, rewrite
from migration_pilot.online.steps import OnlineStepError, run_steps
from migration_pilot.pipeline.events import EventSink, ignore
from migration_pilot.pipeline.timeouts import sqlstate


@dataclass
class OnlineSession:
    """What one deploy's editors share: the tables that existed before it, the retry policy, the log."""

    existing_tables: frozenset[str]
    retry: Any
    emit: EventSink = ignore
    rewrites: list[Rewrite] = field(default_factory=list)
    plain_after_all: list[tuple[Deferred, str]] = field(default_factory=list)
    retries: int = 0
    added_with_default: set[tuple[str, str]] = field(default_factory=set)
    kept_defaults: list[tuple[str, str]] = field(default_factory=list)
    keep_defaults: bool = True
    """Leave out Django's DROP DEFAULT after adding a NOT NULL column (the deploy records and later drops it)."""
    tolerate: frozenset[str] = frozenset()
    """SQLSTATEs skipped outside a transaction ("already exists"): a re-run after a half-way stop goes on."""

    def run_after_commit(self, connection: Any, pending: list[Deferred]) -> None:
        """Run the moved steps, in the order their statements came."""
        for deferred in pending:
            try:
                self.retries += run_steps(connection, deferred.steps, retry=self.retry, emit=self.emit)
            except OnlineStepError:
                for statement in deferred.cleanup:  # what this group's earlier steps left
                    with contextlib.suppress(Exception), connection.cursor() as cursor:
                        cursor.execute(statement)
                raise


class _PendingAware(list):  # type: ignore[type-arg]
    """deferred_sql that also counts the editor's pending online steps.

    The executor records a migration inside its transaction only when
    `deferred_sql` is empty; pending steps must make it record after them.
    """

    def __init__(self, editor: OnlineEditorMixin) -> None:
        super().__init__()
        self._editor = editor

    def __bool__(self) -> bool:
        return len(self) > 0 or bool(self._editor.pending)


class OnlineEditorMixin:
    """Put in front of a backend's DatabaseSchemaEditor; see the module docstring."""

    online: OnlineSession
    # A foreign key added with its column goes in deferred SQL as its own ADD CONSTRAINT,
    # where it can be added NOT VALID and validated after commit.
    sql_create_column_inline_fk = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pending: list[Deferred] = []
        self.deferred_sql = _PendingAware(self)

    def execute(self, sql: Any, params: Any = ()) -> Any:
        """Run `sql` in its online form (see the module docstring)."""
        text = str(sql)
        if params:  # merged client-side, as Django's PostgreSQL editor does anyway, so it can be read
            text = self.connection.ops.compose_sql(text, params)  # type: ignore[attr-defined]
            sql, params = text, None
        if self.pending:
            self._plain_if_named(text)
        if _from_run_sql():  # the author's own SQL: lint judges it, the deploy runs it as written
            return self._run(sql, params)
        found = rewrite(text, existing_tables=self.online.existing_tables,
                        quote=self.quote_name,  # type: ignore[attr-defined]
                        added_with_default=self.online.added_with_default if self.online.keep_defaults else None,
                        inspect=self._column_facts)
        if found is None:
            return self._run(sql, params)
        self.online.rewrites.append(found)
        self.online.kept_defaults.extend(found.kept_defaults)
        for statement in found.now:
            self._run(statement, None)
        if self.connection.in_atomic_block or self.collect_sql:  # type: ignore[attr-defined]
            self.pending.extend(found.later)
        else:  # atomic = False: nothing to wait for
            self.online.run_after_commit(self.connection, list(found.later))  # type: ignore[attr-defined]
        return None

    def _run(self, sql: Any, params: Any) -> Any:
        """The backend's execute; outside a transaction, "already exists" is skipped when the session says so."""
        parent = super()
        if not self.online.tolerate or self.connection.in_atomic_block:  # type: ignore[attr-defined]
            return parent.execute(sql, params)  # type: ignore[misc,attr-defined]
        try:
            return parent.execute(sql, params)  # type: ignore[misc,attr-defined]
        except Exception as exc:
            if sqlstate(exc) not in self.online.tolerate:
                raise
            return None

    def _column_facts(self, table: str, column: str, new_type: str | None = None) -> Any:
        from migration_pilot.online.swap import column_facts

        return column_facts(self.connection, table, column, new_type)  # type: ignore[attr-defined]

    def _plain_if_named(self, text: str) -> None:
        """Run pending work in its plain form, in the transaction, when `text` refers to it."""
        for deferred in list(self.pending):
            if any(re.search(rf"(?<![\w$]){re.escape(name)}(?![\w$])", text) for name in deferred.names):
                self.pending.remove(deferred)
                self.online.plain_after_all.append((deferred, text[:200]))
                super().execute(deferred.plain, None)  # type: ignore[misc]

    def __exit__(self, exc_type: Any, exc_value: Any, traceback: Any) -> Any:
        result = super().__exit__(exc_type, exc_value, traceback)  # type: ignore[misc]
        pending, self.pending = self.pending, []
        if exc_type is None and pending:
            if self.collect_sql:  # type: ignore[attr-defined]
                self.collected_sql.append(  # type: ignore[attr-defined]
                    "-- after the migration's transaction commits (online form):")
                self.collected_sql.extend(  # type: ignore[attr-defined]
                    step.sql + ";" for deferred in pending for step in deferred.steps)
            else:
                self.online.run_after_commit(self.connection, pending)  # type: ignore[attr-defined]
        return result


def _from_run_sql() -> bool:
    """Whether the statement being executed comes from a RunSQL operation (Django's RunSQL._run_sql)."""
    frame = sys._getframe(2)
    for _ in range(3):
        if frame is None:
            return False
        if frame.f_code.co_name == "_run_sql" and "migrations" in frame.f_globals.get("__name__", ""):
            return True
        frame = frame.f_back  # type: ignore[assignment]
    return False


def editor_class(base: type, session: OnlineSession) -> type:
    """The backend's editor class with the online mixin in front, bound to `session`."""
    return type(f"Online{base.__name__}", (OnlineEditorMixin, base), {"online": session})


@contextlib.contextmanager
def online_schema_editor(connection: Any, *, retry: Any, emit: EventSink = ignore,
                         existing_tables: frozenset[str] | None = None,
                         keep_defaults: bool = True) -> Iterator[OnlineSession | None]:
    """While inside, `connection.schema_editor()` gives online editors (PostgreSQL; elsewhere a no-op -> None)."""
    if connection.vendor != "postgresql":
        yield None
        return
    if existing_tables is None:
        with connection.cursor() as cursor:
            existing_tables = frozenset(connection.introspection.table_names(cursor))
    session = OnlineSession(existing_tables, retry, emit, keep_defaults=keep_defaults)
    connection.SchemaEditorClass = editor_class(type(connection).SchemaEditorClass, session)
    try:
        yield session
    finally:
        del connection.SchemaEditorClass
