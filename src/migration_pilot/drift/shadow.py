"""Build the reference schema by really applying the applied migrations to a scratch database.

The scratch ("shadow") database is a temporary database named
`pilot_shadow_<source>_<random>` on the same PostgreSQL or MariaDB/MySQL server (same
engine, version, extensions and default collation as the verified database),
or an in-memory SQLite database. The migrations recorded as applied on the
verified database are applied to it with Django's own MigrationExecutor and
schema editor, its catalog is read, and it is dropped in a `finally` block,
with SIGTERM turned into an exception and SIGINT/SIGTERM held back during the
DROP, so an interrupted run leaves nothing behind.

While the migrations run, `connections[alias]` points at the shadow: routers
see the verified alias (so `allow_migrate` decides as in production) and a
RunPython that writes through the default manager writes to the shadow, never
to the verified database.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import secrets
import signal
import threading
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass
from types import FrameType
from typing import Any, Final

from django.db import connections
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.recorder import MigrationRecorder
from django.db.migrations.state import ProjectState

from migration_pilot.drift.catalog import read_catalog
from migration_pilot.drift.errors import ShadowDatabaseError, ShadowMigrationError
from migration_pilot.drift.model import Catalog

PREFIX: Final = "pilot_shadow_"


def shadow_prefix(source_name: str) -> str:
    """`pilot_shadow_<6 hex of the verified database's name>_`: whose shadow a leftover is.

    A hash, not the name itself, keeps any database name within the 63/64-character
    identifier limits; an operator (or a test sharing the server with others) can tell
    the shadows of one database from another's.
    """
    return f"{PREFIX}{hashlib.sha1(source_name.encode()).hexdigest()[:6]}_"
Progress = Callable[[str, int, int, str], None]
"""progress(stage, done, total, label): stages 'create', 'migrate', 'read', 'drop'."""


class ShadowUnavailable(Exception):
    """The server refused to create a scratch database (usually: no CREATEDB privilege)."""


@dataclass(frozen=True, slots=True)
class ShadowPlan:
    """What to apply: the verified database's applied migrations, in dependency order."""

    loader: MigrationLoader
    migrations: tuple[Any, ...]


def applied_plan(loader: MigrationLoader, *, everything: bool = False) -> ShadowPlan:
    """Applied migrations (as the loader resolved squashes) in an order that respects dependencies.

    With `everything`, every migration on disk: the set a full `migrate` leaves
    applied, in the same order, so its cache key is the one verify computes afterwards.
    """
    graph = loader.graph
    applied = loader.applied_migrations or {}
    ordered: list[Any] = []
    seen: set[tuple[str, str]] = set()
    for leaf in sorted(graph.leaf_nodes()):
        for key in graph.forwards_plan(leaf):
            if key not in seen:
                seen.add(key)
                if everything or key in applied:
                    ordered.append(graph.nodes[key])
    return ShadowPlan(loader, tuple(ordered))


def build_shadow_catalog(live: Any, plan: ShadowPlan, *, progress: Progress | None = None) -> Catalog:
    """Create the scratch database, apply `plan`, read its catalog, drop it (always).

    Raises ShadowUnavailable when the database cannot be created,
    ShadowMigrationError when a migration fails.
    """
    report = progress or (lambda *_: None)
    with shadow_database(live, report) as (shadow, name):
        _apply(shadow, plan, report)
        report("read", 0, 1, name)
        return read_catalog(shadow)


@contextlib.contextmanager
def shadow_database(live: Any, report: Progress | None = None) -> Iterator[tuple[Any, str]]:
    """(connection, name) of a fresh scratch database like `live`'s, dropped on exit whatever happens."""
    report = report or (lambda *_: None)
    name = f"{shadow_prefix(str(live.settings_dict.get('NAME') or ''))}{secrets.token_hex(6)}"
    report("create", 0, 1, name)
    with _sigterm_raises():
        created = False
        try:
            created = _create(live, name)
            shadow = _wrapper(live, name)
            try:
                _check_target(shadow, name)
                _prepare(live, shadow)
                yield shadow, name
            finally:
                shadow.close()
        finally:
            if created:
                report("drop", 0, 1, name)
                with _signals_held():
                    _drop(live, name)


def _create(live: Any, name: str) -> bool:
    if live.vendor == "sqlite":
        return False
    quote = live.ops.quote_name
    statement = f"CREATE DATABASE {quote(name)}"
    if live.vendor == "mysql":
        with live.cursor() as cursor:
            cursor.execute("SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME"
                           " FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = DATABASE()")
            charset, collation = cursor.fetchone()
        statement += f" CHARACTER SET {charset} COLLATE {collation}"
    try:
        with live._nodb_cursor() as cursor:
            cursor.execute(statement)
    except Exception as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ShadowUnavailable(reason) from exc
    return True


def _drop(live: Any, name: str) -> None:
    quote = live.ops.quote_name
    force = " WITH (FORCE)" if live.vendor == "postgresql" and live.pg_version >= 130000 else ""
    with live._nodb_cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS {quote(name)}{force}")


def _wrapper(live: Any, name: str) -> Any:
    """A connection to the shadow under the live alias (so routers decide as for the live one)."""
    settings = copy.deepcopy(live.settings_dict)
    settings["NAME"] = ":memory:" if live.vendor == "sqlite" else name
    options = dict(settings.get("OPTIONS") or {})
    # A pool is shared by alias and would hand out connections to the verified database;
    # a database named in OPTIONS would override NAME.
    for key in ("pool", "db", "database"):
        options.pop(key, None)
    settings["OPTIONS"] = options
    return type(live)(settings, alias=live.alias)


def _check_target(shadow: Any, name: str) -> None:
    """Refuse to apply anything unless the connection really is the scratch database."""
    query = {"postgresql": "SELECT current_database()", "mysql": "SELECT DATABASE()",
             "sqlite": "SELECT file FROM pragma_database_list WHERE name = 'main'"}[shadow.vendor]
    try:
        with shadow.cursor() as cursor:
            cursor.execute(query)
            current = cursor.fetchone()[0]
    except Exception as exc:
        raise ShadowDatabaseError(name, str(exc).strip().splitlines()[0] if str(exc).strip() else
                                  type(exc).__name__) from exc
    expected = "" if shadow.vendor == "sqlite" else name
    if (current or "") != expected:
        raise ShadowDatabaseError(name, f"the connection reached {current!r} instead")


def _prepare(live: Any, shadow: Any) -> None:
    """PostgreSQL: mirror the search-path schemas and installed extensions the migrations may rely on."""
    if live.vendor != "postgresql":
        return
    with live.cursor() as cursor:
        cursor.execute("SELECT nspname FROM pg_namespace WHERE nspname = ANY(current_schemas(false))")
        schemas = [row[0] for row in cursor.fetchall()]
        cursor.execute("SELECT extname FROM pg_extension WHERE extname <> 'plpgsql' ORDER BY extname")
        extensions = [row[0] for row in cursor.fetchall()]
    quote = shadow.ops.quote_name
    with shadow.cursor() as cursor:
        for schema in schemas:
            cursor.execute(f"CREATE SCHEMA IF NOT EXISTS {quote(schema)}")
        for extension in extensions:
            with contextlib.suppress(Exception), shadow.cursor() as inner:
                inner.execute(f"CREATE EXTENSION IF NOT EXISTS {quote(extension)}")


class _ShadowExecutor(MigrationExecutor):
    """Django's executor on the shadow connection, reusing the already loaded graph."""

    def __init__(self, connection: Any, loader: MigrationLoader, callback: Any) -> None:
        # Deliberately not calling super().__init__: it would load every migration again.
        self.connection = connection
        self.loader = loader
        self.recorder = MigrationRecorder(connection)
        self.progress_callback = callback


def _apply(shadow: Any, plan: ShadowPlan, report: Progress) -> None:
    apply_capturing(shadow, plan.loader, plan.migrations, report)


def apply_capturing(shadow: Any, loader: MigrationLoader, migrations: Sequence[Any], report: Progress,
                    *, capture: Collection[tuple[str, str]] = ()) -> dict[tuple[str, str], list[str]]:
    """Apply `migrations` in order to the shadow; the SQL each migration in `capture` really executed.

    Capturing what runs (not what collect_sql mode would print) gives SQL even for
    migrations whose schema editor must look up constraint names in the database.
    """
    total = len(migrations)
    done = [0]

    def callback(action: str, migration: Any = None, fake: bool = False) -> None:
        if action == "apply_success":
            done[0] += 1
            report("migrate", done[0], total, f"{migration.app_label}.{migration.name}")

    executor = _ShadowExecutor(shadow, loader, callback)
    state = ProjectState(real_apps=loader.unmigrated_apps)
    alias = shadow.alias
    live = connections[alias]
    connections[alias] = shadow
    captured: dict[tuple[str, str], list[str]] = {}
    try:
        executor.recorder.ensure_schema()
        for migration in migrations:
            if "apps" not in state.__dict__:
                state.apps  # noqa: B018 - render once up front, as Django's executor does
            key = (migration.app_label, migration.name)
            statements: list[str] = []
            try:
                if key in capture:
                    with shadow.execute_wrapper(_Capture(shadow, statements)):
                        state = executor.apply_migration(state, migration)
                    captured[key] = statements
                else:
                    state = executor.apply_migration(state, migration)
            except (KeyboardInterrupt, SystemExit):
                raise
            except Exception as exc:
                reason = " ".join(str(exc).split()) or type(exc).__name__
                raise ShadowMigrationError(migration.app_label, migration.name, reason) from exc
    finally:
        connections[alias] = live
    return captured


class _Capture:
    """execute_wrapper that keeps each statement with its parameters inlined, minus the bookkeeping."""

    def __init__(self, connection: Any, into: list[str]) -> None:
        self.connection, self.into = connection, into

    def __call__(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        text = sql if not params or many else self._inline(sql, params)
        lowered = text.lstrip().lower()
        if "django_migrations" not in text and not lowered.startswith(("savepoint", "release savepoint",
                                                                        "rollback to savepoint")):
            self.into.append(text.strip().rstrip(";") + ";")
        return execute(sql, params, many, context)

    def _inline(self, sql: str, params: Any) -> str:
        """For reading only: the statement with literal values, as sqlmigrate shows them."""
        compose = getattr(self.connection.ops, "compose_sql", None)
        if compose is not None and self.connection.vendor == "postgresql":
            with contextlib.suppress(Exception):
                return str(compose(sql, params))
        if not isinstance(params, list | tuple):
            return sql
        try:
            return sql % tuple(_literal(p) for p in params)
        except (TypeError, ValueError):
            return sql


def _literal(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


@contextlib.contextmanager
def _sigterm_raises() -> Iterator[None]:
    """SIGTERM raises SystemExit(143) inside the block, so `finally` drops the shadow."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Delay SIGINT/SIGTERM until the DROP has run (they are delivered right after)."""
    if not hasattr(signal, "pthread_sigmask"):  # pragma: no cover - Windows
        yield
        return
    held = {signal.SIGINT, signal.SIGTERM}
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
