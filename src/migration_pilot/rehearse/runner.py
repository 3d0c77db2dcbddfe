"""Rehearse a migration plan on a scratch database: forward, backward and forward again, on generated rows.

Per migration: the tables it touches are filled (historical models of the
state before it) up to the requested row count, their row counts and column
checksums are taken, then the migration is applied, unapplied and applied
again, each direction timed, with the longest statement of each. The verdict
says whether the reverse exists and whether it gave back the data.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from django.conf import settings as django_settings
from django.db.migrations.exceptions import IrreversibleError

from migration_pilot.rehearse import checksums, generate, scratch
from migration_pilot.rehearse.errors import RehearseError

MigrationKey = tuple[str, str]
Progress = Callable[[str, int, int], None]
DECLARATION = "rehearse_lossy"


@dataclass
class Direction:
    """One direction of one migration: wall time and its longest statement."""

    seconds: float = 0.0
    statements: int = 0
    longest_s: float = 0.0
    longest_sql: str = ""


@dataclass
class MigrationRehearsal:
    """What rehearsing one migration found."""

    app: str
    name: str
    reversible: bool = True
    declared: str | None = None
    forward: Direction = field(default_factory=Direction)
    backward: Direction | None = None
    forward_again: Direction | None = None
    generated: dict[str, int] = field(default_factory=dict)
    not_generated: dict[str, str] = field(default_factory=dict)
    limited: dict[str, str] = field(default_factory=dict)
    left_out: dict[str, str] = field(default_factory=dict)
    tables: list[str] = field(default_factory=list)
    lost_backward: list[str] = field(default_factory=list)
    lost_forward_again: list[str] = field(default_factory=list)
    error: str = ""
    continued: str = ""
    failed_state: Any = field(default=None, repr=False, compare=False)
    resume_state: Any = field(default=None, repr=False, compare=False)

    @property
    def lossless(self) -> bool:
        """Backward and the second forward kept every row and value compared."""
        return not self.lost_backward and not self.lost_forward_again

    @property
    def ok(self) -> bool:
        """No finding, or only findings the migration declares."""
        if self.error:
            return False
        return self.declared is not None or (self.reversible and self.lossless)

    def to_json(self) -> dict[str, Any]:
        """Plain values for --format json."""
        data = asdict(self)
        data.pop("failed_state", None)
        data.pop("resume_state", None)
        data.update(lossless=self.lossless, ok=self.ok)
        return data


@dataclass
class Rehearsal:
    """The whole rehearsal."""

    alias: str
    vendor: str
    scratch: str
    rows: int
    kept: bool = False
    build_s: float = 0.0
    migrations: list[MigrationRehearsal] = field(default_factory=list)
    history: str = "none"
    history_run: int | None = None
    started_at: Any = None

    @property
    def ok(self) -> bool:
        """Every migration passed (or declared what it loses)."""
        return all(m.ok for m in self.migrations)

    def to_json(self) -> dict[str, Any]:
        """Plain values for --format json."""
        return {"alias": self.alias, "vendor": self.vendor, "scratch": self.scratch, "rows": self.rows,
                "kept": self.kept, "build_s": round(self.build_s, 3), "ok": self.ok, "history": self.history,
                "history_run": self.history_run, "migrations": [m.to_json() for m in self.migrations]}


class _Timer:
    """execute_wrapper that counts statements and keeps the longest one."""

    def __init__(self) -> None:
        self.current = Direction()

    def __call__(self, execute: Any, sql: Any, params: Any, many: bool, context: Any) -> Any:
        started = time.monotonic()
        try:
            return execute(sql, params, many, context)
        finally:
            took = time.monotonic() - started
            self.current.statements += 1
            if took >= self.current.longest_s:
                self.current.longest_s = took
                self.current.longest_sql = " ".join(str(sql).split())[:200]

    @contextlib.contextmanager
    def direction(self, connection: Any) -> Iterator[Direction]:
        self.current = Direction()
        started = time.monotonic()
        current = self.current
        try:
            with connection.execute_wrapper(self):
                yield current
        finally:
            current.seconds = time.monotonic() - started


# -- input ----------------------------------------------------------------------------------------------
def resolve_key(graph: Any, loader: Any, value: list[str] | tuple[str, str], flag: str) -> MigrationKey:
    """(app, name) of a --from/--to value; one-line errors for an unknown app or migration or the wrong app."""
    app, name = value
    apps_known = {a for a, _ in graph.nodes}
    if app not in apps_known:
        raise RehearseError(f"Unknown app {app!r} in {flag}: no app with migrations has that label.",
                            hint=f"Apps with migrations: {', '.join(sorted(apps_known)[:12])}.")
    try:
        migration = loader.get_migration_by_prefix(app, name)
    except KeyError:
        elsewhere = sorted(a for a, n in graph.nodes if n == name or n.startswith(name))
        if elsewhere:
            raise RehearseError(f"Migration {name!r} in {flag} is not in app {app!r}: it belongs to"
                                f" {', '.join(elsewhere)}.", hint=f"Pass {flag} {elsewhere[0]} {name}.") from None
        raise RehearseError(f"Unknown migration {app}.{name} in {flag}.",
                            hint=f"Run 'manage.py showmigrations {app}' for its names.") from None
    except Exception as exc:  # AmbiguityError
        raise RehearseError(f"{flag} {app} {name} is ambiguous: {exc}.", hint="Give more of the name.") from None
    return (migration.app_label, migration.name)


def _changed_columns(tables: list[str], before: Any, after: Any) -> dict[str, set[str]]:
    """Columns of `tables` the migration adds or alters (by comparing field definitions across the states)."""
    def columns(state: Any) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for model in state.apps.get_models(include_auto_created=True):
            if model._meta.db_table in tables:
                for fld in model._meta.local_concrete_fields:
                    out.setdefault(model._meta.db_table, {})[fld.column] = fld.deconstruct()[1:]
        return out

    old, new = columns(before), columns(after)
    changed: dict[str, set[str]] = {}
    for table, cols in new.items():
        for column, definition in cols.items():
            if old.get(table, {}).get(column) != definition:
                changed.setdefault(table, set()).add(column)
    return changed


def _auto_pks(tables: list[str], state: Any) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for model in state.apps.get_models(include_auto_created=True):
        pk = model._meta.pk
        if model._meta.db_table in tables and pk is not None and pk.get_internal_type().endswith("AutoField"):
            out.setdefault(model._meta.db_table, set()).add(pk.column)
    return out


def _merge(*parts: dict[str, set[str]]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for part in parts:
        for table, cols in part.items():
            out.setdefault(table, set()).update(cols)
    return out


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0] if text else ''}".rstrip(": ")


# -- one migration --------------------------------------------------------------------------------------
def rehearse_one(executor: Any, state: Any, migration: Any, rows: int, timer: _Timer) -> tuple[MigrationRehearsal,
                                                                                                Any]:
    """Fill, apply, unapply, apply again; returns the finding and the state after the migration."""
    from migration_pilot.testing.roundtrip import touched_tables

    connection = executor.connection
    declared = getattr(migration, DECLARATION, None)
    result = MigrationRehearsal(migration.app_label, migration.name,
                                declared=str(declared) if declared else None)
    before = state.clone()
    tables = touched_tables(migration, [before])
    generator = generate.Generator(connection.alias, rows, use_tz=bool(django_settings.USE_TZ))
    filled = generator.fill(generate.models_for(tables, before))
    result.generated = {t: n for t, n in filled.rows.items() if n}
    result.not_generated = dict(filled.skipped)
    result.limited = dict(filled.limited)
    result.left_out = dict(filled.left_out)
    sums_before = checksums.table_sums(connection, tables)
    try:
        with timer.direction(connection) as forward:
            after = executor.apply_migration(state, migration)
    except Exception as exc:
        result.forward = forward
        result.error = f"forward failed: {_first_line(exc)}"
        result.failed_state = before
        return result, None
    result.forward = forward
    tables_after = sorted(set(tables) | set(touched_tables(migration, [after])))
    result.tables = tables_after
    sums_after = checksums.table_sums(connection, tables_after)
    try:
        with timer.direction(connection) as backward:
            executor.unapply_migration(before.clone(), migration)
    except IrreversibleError:
        result.reversible = False
        return result, after
    except Exception as exc:
        result.backward = backward
        result.error = f"backward failed: {_first_line(exc)}"
        result.resume_state = after if connection.features.can_rollback_ddl and migration.atomic else None
        return result, None
    result.backward = backward
    sums_back = checksums.table_sums(connection, tables)
    result.lost_backward = [str(loss) for loss in checksums.compare(sums_before, sums_back)]
    try:
        with timer.direction(connection) as again:
            after = executor.apply_migration(before.clone(), migration)
    except Exception as exc:
        result.forward_again = again
        result.error = f"forward again failed: {_first_line(exc)}"
        result.failed_state = before
        return result, None
    result.forward_again = again
    sums_again = checksums.table_sums(connection, tables_after)
    skip = _merge(_changed_columns(tables_after, before, after), _auto_pks(tables_after, after))
    result.lost_forward_again = [str(loss) for loss in checksums.compare(sums_after, sums_again, skip=skip)]
    return result, after


def _without_rows(executor: Any, result: MigrationRehearsal, migration: Any) -> Any:
    """--keep-going: empty the tables the failed forward touched and apply it once more; the new state or None."""
    before = result.failed_state
    result.failed_state = None
    from migration_pilot.testing.roundtrip import touched_tables

    try:
        if executor.connection.in_atomic_block:  # pragma: no cover - migrations run in autocommit
            return None
        for model in generate.models_for(touched_tables(migration, [before]), before):
            model._base_manager.using(executor.connection.alias).all().delete()
        state = executor.apply_migration(before.clone(), migration)
    except Exception as exc:
        result.continued = f"not continued: applying it on empty tables failed too ({_first_line(exc)})"
        return None
    result.continued = "applied on emptied tables to go on (--keep-going)"
    return state


# -- the whole rehearsal ------------------------------------------------------------------------------
def _build(live_executor: Any, executor: Any) -> None:
    """Apply on the scratch database what the live one has applied, in dependency order."""
    graph = executor.loader.graph
    targets = [key for key in live_executor.loader.applied_migrations if key in graph.nodes]
    seen = set(executor.loader.applied_migrations)
    plan = []
    for target in targets:
        for key in graph.forwards_plan(target):
            if key not in seen:
                seen.add(key)
                plan.append((graph.nodes[key], False))
    if plan:
        executor.migrate(targets, plan=plan)


def _back_to_before(executor: Any, key: MigrationKey) -> None:
    graph = executor.loader.graph
    if key not in executor.loader.applied_migrations:
        return
    parents = sorted(p for p in graph.node_map[key].parents if p[0] == key[0])
    target = (key[0], parents[0][1] if parents else None)
    try:
        executor.migrate([target])
    except IrreversibleError as exc:
        raise RehearseError(f"Cannot go back to before {key[0]}.{key[1]} on the scratch database: {exc}.",
                            hint="Pass a later --from.") from None


def rehearse(alias: str, *, rows: int = 1000, scratch_name: str | None = None,
             start: list[str] | None = None, stop: list[str] | None = None, from_backup: str | None = None,
             keep: bool = False, progress: Progress | None = None, record: bool = True,
             keep_going: bool = False) -> Rehearsal:
    """Rehearse the pending plan of `alias` (or --from/--to) on a scratch database; see the module doc."""
    from django.db.migrations.executor import MigrationExecutor

    from migration_pilot.loader import executor_for
    from migration_pilot.pipeline.preflight import connect

    if rows < 0:
        raise RehearseError(f"Bad --rows {rows}: give 0 or more rows per table.", hint="For example --rows 1000.")
    live = connect(alias)
    live_executor = executor_for(live)
    graph, loader = live_executor.loader.graph, live_executor.loader
    first = resolve_key(graph, loader, start, "--from") if start else None
    last = resolve_key(graph, loader, stop, "--to") if stop else None
    if first and last and first not in graph.forwards_plan(last):
        raise RehearseError(f"--to {last[0]} {last[1]} does not descend from --from {first[0]} {first[1]}.",
                            hint="Give a --to that depends on --from.")
    target = scratch.prepare(live, scratch_name)
    from django.utils import timezone

    report = Rehearsal(alias, live.vendor, target.name, rows, kept=keep, started_at=timezone.now())
    with scratch.kept_or_dropped(live, target, keep=keep):
        started = time.monotonic()
        if from_backup:
            from migration_pilot.backup.catalogue import find_backup
            from migration_pilot.backup.service import restore_backup

            manifest = find_backup(from_backup)
            target.created = True
            restore_backup(manifest, alias=alias, target_database=target.name)
        else:
            scratch.create_empty(live, target)
        connection = scratch.register(target)
        with scratch.routed(target, [alias, "default"]):
            if not from_backup and live.vendor != "sqlite":
                _build(live_executor, MigrationExecutor(connection))
            report.build_s = time.monotonic() - started
            _run_plan(report, connection, first, last, rows, progress, keep_going)
        if record and report.migrations:
            report.history, report.history_run = _record(alias, target.alias, report)
    return report


def _run_plan(report: Rehearsal, connection: Any, first: MigrationKey | None, last: MigrationKey | None,
              rows: int, progress: Progress | None, keep_going: bool) -> None:
    from django.db.migrations.executor import MigrationExecutor

    started = time.monotonic()
    if first:
        _back_to_before(MigrationExecutor(connection), first)
    executor = MigrationExecutor(connection)
    targets = [last] if last else executor.loader.graph.leaf_nodes()
    plan = executor.migration_plan(targets)
    if any(backwards for _, backwards in plan):
        raise RehearseError(f"--to {last[0] if last else ''} {last[1] if last else ''} is behind what is"
                            " applied: a rehearsal goes forward.", hint="Pass a --to not yet applied.")
    state = executor._create_project_state(with_applied_migrations=True)
    if first:
        # What --from needs that the scratch database lacks is applied first, without rehearsing it.
        keys = [(m.app_label, m.name) for m, _ in plan]
        if first in keys:
            for migration, _ in plan[:keys.index(first)]:
                state = executor.apply_migration(state, migration)
            plan = plan[keys.index(first):]
    report.build_s += time.monotonic() - started
    timer = _Timer()
    for index, (migration, _) in enumerate(plan):
        if progress:
            progress(f"{migration.app_label}.{migration.name}", index, len(plan))
        result, state = rehearse_one(executor, state, migration, rows, timer)
        report.migrations.append(result)
        if state is None and keep_going and result.resume_state is not None:
            state, result.resume_state = result.resume_state, None
            result.continued = "left applied to go on (--keep-going)"
        elif state is None and keep_going and result.failed_state is not None:
            state = _without_rows(executor, result, migration)
        if state is None:
            break
    if progress:
        progress("done", len(plan), len(plan))


def _record(alias: str, scratch_alias: str, report: Rehearsal) -> tuple[str, int | None]:
    """A DeployRun of kind 'rehearsal' in the live history (else the scratch one); where it went."""
    from django.utils import timezone

    from migration_pilot.pipeline import history

    for where, db in (("live", alias), ("scratch", scratch_alias)):
        with contextlib.suppress(Exception):
            if not history.readable(db):
                continue
            from migration_pilot.models import DeployRun, MigrationRun

            now = timezone.now()
            run = DeployRun.objects.using(db).create(
                kind="rehearsal", outcome="succeeded" if report.ok else "failed",
                started_at=report.started_at or now,
                finished_at=now, user=_user(), host=_host(), pid=_pid(), alias=alias,
                plan=[[m.app, m.name] for m in report.migrations],
                options={"rows": report.rows, "scratch": report.scratch, "vendor": report.vendor})
            entries = []
            for m in report.migrations:
                for backwards, direction in ((False, m.forward), (True, m.backward)):
                    if direction is None:
                        continue
                    entries.append(MigrationRun(
                        run=run, app=m.app, name=m.name, backwards=backwards, started_at=now, finished_at=now,
                        duration_s=direction.seconds, statements=direction.statements,
                        outcome="rehearsed" if not m.error else "failed", error=m.error,
                        impact={"rehearsal": {"rows": report.rows, "longest_statement_s": direction.longest_s,
                                              "longest_sql": direction.longest_sql, "ok": m.ok}}))
            MigrationRun.objects.using(db).bulk_create(entries)
            return where, int(run.pk)
    return "none", None


def _user() -> str:
    import getpass

    try:
        return getpass.getuser()[:150]
    except Exception:
        return "unknown"


def _host() -> str:
    import socket

    return socket.gethostname()[:255]


def _pid() -> int:
    import os

    return os.getpid()
