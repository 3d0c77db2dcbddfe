"""The per-database engine behind `migrator`: one migration graph, rendered states and snapshots per session.

django-test-migrations spends most of a test re-rendering model states while it
re-applies every migration from zero. Here each database alias gets one
`MigrationSession` for the whole test session:

- the migration graph and the forward plan are loaded once;
- the rendered `ProjectState` of every applied-migrations set a test reached is kept
  (keyed by that set), so the next test that starts there renders nothing;
- a snapshot of the database is kept for every start state (and for the latest
  state), so a test starts by restoring a copy instead of migrating, and the
  database is restored to the latest migrations after each test;
- when the test database is created, the states the collected tests start from are
  captured on the way (see `capture_during_creation`), so they cost nothing extra.

A test never sees another test's rows: each start and each reset is a full restore
of a snapshot taken before any test wrote to the database.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
from collections import Counter
from collections.abc import Collection, Iterator, Sequence
from functools import cached_property
from typing import Any

from django.db import connections
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.state import ProjectState
from django.db.models.signals import post_migrate, pre_migrate

from migration_pilot.pipeline.heap import frozen_heap
from migration_pilot.testing import snapshots
from migration_pilot.testing.errors import MigrationOrderError
from migration_pilot.testing.targets import MigrationTarget, initial_prefix, normalize, resolve
from migration_pilot.types import MigrationKey

AppliedSet = frozenset[MigrationKey]

STATS: Counter[str] = Counter()
"""Work done this process: restored, snapshots, captured, applied, unapplied, rendered (for the summary)."""


@contextlib.contextmanager
def frozen_without_collect() -> Iterator[None]:
    """The heap frozen while a test's migrations run, without the full collection frozen_heap() starts with.

    Once the test database exists the heap holds every cached model state, so a full
    collection before each tested migration cost about 0.1 s a test; freezing alone is
    two list splices. Garbage alive at that moment waits until the unfreeze, a few
    hundred milliseconds later.
    """
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


@contextlib.contextmanager
def muted_migrate_signals() -> Iterator[None]:
    """pre_migrate/post_migrate receivers off, as DTM does while it migrates."""
    pre, post = pre_migrate.receivers, post_migrate.receivers
    pre_migrate.receivers, post_migrate.receivers = [], []
    try:
        yield
    finally:
        pre_migrate.receivers, post_migrate.receivers = pre, post


class DeferredAppsState(ProjectState):
    """The state right after migrating, whose model classes are finished on first use of `.apps`.

    While migrating, Django re-renders an operation's own model but delays re-rendering
    models related to it. Instead of re-rendering the whole project (what
    clear_delayed_apps_cache() leads to), the models these migrations touched are re-rendered
    with all their relations, and only when the test asks for `.apps`.
    """

    def __init__(self, migrated: ProjectState, touched: list[tuple[str, str]]) -> None:
        super().__init__(models=migrated.models, real_apps=migrated.real_apps)
        self._pending_apps = migrated.apps
        self._touched = touched

    @cached_property
    def apps(self) -> Any:  # type: ignore[override]  # a cached_property, as in ProjectState
        """The migrated apps with the touched models and their relations re-rendered."""
        self.__dict__["apps"] = self._pending_apps
        self.reload_models(self._touched, delay=False)
        return self._pending_apps


class MigrationSession:
    """Everything reusable across the migration tests of one database alias."""

    def __init__(self, alias: str) -> None:
        self.alias = alias
        self.connection = connections[alias]
        self.executor = MigrationExecutor(self.connection)
        self.graph = self.executor.loader.graph
        plan = self.executor.migration_plan(self.graph.leaf_nodes(), clean_start=True)
        self.full_plan: list[MigrationKey] = [(migration.app_label, migration.name) for migration, _ in plan]
        self.order = {key: index for index, key in enumerate(self.full_plan)}
        self.store = snapshots.store_for(self.connection)
        self.states: dict[AppliedSet, ProjectState] = {}
        self.snapshots: dict[AppliedSet, Any] = {}
        self.latest: AppliedSet | None = None
        self.stale_checked = False
        self.uses: Counter[AppliedSet] = Counter()
        """How many collected tests will start at each state (0: unknown, so never hand a snapshot over)."""

    # -- state of the database -------------------------------------------------------------------

    def applied(self) -> AppliedSet:
        """The migrations recorded as applied right now (one query)."""
        applied = self.executor.recorder.applied_migrations()
        # A migration that replaces others counts as applied when all of those are (the loader's rule).
        for key, migration in self.executor.loader.replacements.items():
            if all(target in applied for target in migration.replaces):
                applied[key] = migration
            else:
                applied.pop(key, None)
        self.executor.loader.applied_migrations = applied
        return frozenset(key for key in applied if key in self.graph.nodes)

    def state_for(self, applied: AppliedSet) -> ProjectState:
        """The rendered state after `applied` (cached; built without rendering, then rendered once)."""
        state = self.states.get(applied)
        if state is None:
            state = ProjectState(real_apps=self.executor.loader.unmigrated_apps)
            for key in self.full_plan:
                if key in applied:
                    self.graph.nodes[key].mutate_state(state, preserve=False)
            state.apps  # noqa: B018 - render once, here, so later clones are cheap
            STATS["rendered"] += 1
            self.states[applied] = state
        return state

    def remember(self, applied: AppliedSet, state: ProjectState) -> None:
        """Keep a rendered state reached by migrating, so nobody renders it again."""
        if applied not in self.states and "apps" in state.__dict__:
            self.states[applied] = state.clone()

    # -- snapshots -------------------------------------------------------------------------------

    def snapshot(self, applied: AppliedSet) -> None:
        """Keep a copy of the database, which is at `applied` now."""
        if not self.store.supported or applied in self.snapshots:
            return
        self.store.check()
        if not self.stale_checked:
            self.stale_checked = True
            self.store.drop_stale()
        self.snapshots[applied] = self.store.take()
        STATS["snapshots"] += 1

    def ensure_latest(self) -> AppliedSet:
        """Remember the state the test database is in before the first migration test touches it."""
        if self.latest is None:
            self.latest = self.applied()
        if self.store.supported:
            self.store.check()
            self.store.keep_latest()
        return self.latest

    def expect(self, targets: Sequence[MigrationTarget]) -> None:
        """Count the start states collected tests name, so the last test to use one may consume its snapshot."""
        for target in targets:
            with contextlib.suppress(Exception):
                self.uses[frozenset(initial_prefix(resolve([target], self.graph), self.full_plan))] += 1

    def _restore(self, applied: AppliedSet, *, for_test: bool = True) -> None:
        """Restore a snapshot; a test that is the last one expected to start there may use it up."""
        remaining = self.uses.get(applied, 0) if for_test else 0
        consume = self.store.consumable and remaining == 1
        if remaining:
            self.uses[applied] -= 1
        self.store.restore(self.snapshots[applied], consume=consume)
        if consume:
            del self.snapshots[applied]
        STATS["restored"] += 1

    # -- moving the database ---------------------------------------------------------------------

    def _outside_transactions(self) -> None:
        if self.connection.in_atomic_block:
            raise MigrationOrderError(
                f"Database {self.alias!r} is inside a transaction, so migrations cannot be tested here.",
                hint="Drop the db fixture (migrator opens database access itself) or use transactional_db.")

    def start_at(self, spec: Any) -> ProjectState:
        """apply_initial_migration: the database at the plan prefix ending at the targets, no rows of others."""
        self._outside_transactions()
        self.ensure_latest()
        prefix = initial_prefix(resolve(normalize(spec), self.graph), self.full_plan)
        target = frozenset(prefix)
        if target in self.snapshots:
            self._restore(target)
        else:
            base = max((s for s in self.snapshots if s <= target and self._is_prefix(s)), key=len, default=None)
            if base is None:
                self.store.make_scratch()
                self._empty()
                base = frozenset()
            else:
                self._restore(base, for_test=False)
            self._forward(base, [key for key in prefix if key not in base])
            if self.uses.get(target, 0) != 1:
                self.snapshot(target)
            self.uses[target] = max(self.uses.get(target, 0) - 1, 0)
        self.applied()
        return self.state_for(target).clone()

    def migrate_to(self, spec: Any) -> ProjectState:
        """apply_tested_migration: Django's migrate to the targets, forward or backward, from the cached state."""
        targets = resolve(normalize(spec), self.graph)
        self._outside_transactions()
        self.ensure_latest()
        if self.store.supported:
            self.store.make_scratch()
        current = self.applied()
        plan = self.executor.migration_plan(targets)
        if not plan:
            return self.state_for(current).clone()
        backwards = {backward for _, backward in plan}
        if len(backwards) > 1:
            raise MigrationOrderError("The plan to reach these targets mixes forward and backward migrations.",
                                      hint="Reach them in two calls: first backward, then forward.")
        keys = [(migration.app_label, migration.name) for migration, _ in plan]
        if True in backwards:
            self._backward(current, keys)
        else:
            self._forward(current, keys)
        return self.state_for(self.applied())

    def reset(self) -> None:
        """Back to the latest migrations the session started with (a restore, not a migrate)."""
        if self.latest is None:
            return
        if self.store.supported:
            self.store.bring_back_latest()
        else:
            from django.core.management import call_command

            call_command("migrate", verbosity=0, database=self.alias)
            call_command("flush", verbosity=0, interactive=False, database=self.alias)
        self.applied()

    def _is_prefix(self, applied: AppliedSet) -> bool:
        return all(key in applied for key in self.full_plan[:len(applied)])

    def _empty(self) -> None:
        """Drop every table of the installed models and the migration records (what DTM does)."""
        connection = self.connection
        tables = connection.introspection.django_table_names(only_existing=True, include_views=False)
        statements = [connection.SchemaEditorClass.sql_delete_table % {"table": connection.ops.quote_name(t)}
                      for t in tables]
        if connection.vendor == "mysql":
            statements = ["SET FOREIGN_KEY_CHECKS = 0", *statements, "SET FOREIGN_KEY_CHECKS = 1"]
        if connection.vendor == "sqlite":
            statements = ["PRAGMA foreign_keys = OFF", *statements, "PRAGMA foreign_keys = ON"]
        with connection.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement)
        self.executor.recorder.ensure_schema()
        self.executor.recorder.flush()

    def _forward(self, current: AppliedSet, keys: Sequence[MigrationKey]) -> None:
        if not keys:
            return
        self.executor.loader.applied_migrations = {key: self.graph.nodes[key] for key in current}
        plan = [(self.graph.nodes[key], False) for key in sorted(keys, key=self.order.__getitem__)]
        with muted_migrate_signals(), frozen_without_collect():
            state = self.executor.migrate(None, plan=plan, state=self.state_for(current).clone())
        if state.is_delayed:
            touched = {(migration.app_label, str(name).lower()) for migration, _ in plan
                       for operation in migration.operations
                       for name in (getattr(operation, "model_name", None), getattr(operation, "name", None))
                       if isinstance(name, str)}
            state = DeferredAppsState(state, [key for key in touched if key in state.models])
        STATS["applied"] += len(keys)
        reached = current | frozenset(keys)
        if reached not in self.states:
            self.states[reached] = state

    def _backward(self, current: AppliedSet, keys: Sequence[MigrationKey]) -> None:
        """Unapply `keys` (in plan order); states come from the cached state before the first of them."""
        first = min(self.order[key] for key in keys)
        last = max(self.order[key] for key in keys)
        state = self.state_for(frozenset(k for k in current if self.order[k] < first)).clone()
        before: dict[MigrationKey, ProjectState] = {}
        for key in self.full_plan[first:last + 1]:
            if key in current:
                before[key] = state
                state = self.graph.nodes[key].mutate_state(state, preserve=True)
        with muted_migrate_signals():
            for key in keys:
                self.executor.unapply_migration(before[key], self.graph.nodes[key])
        STATS["unapplied"] += len(keys)

    # -- end of session --------------------------------------------------------------------------

    def close(self, *, with_database: bool = False) -> bool:
        """Drop every snapshot this session took (and the test database too when asked and able: True)."""
        handles = list(self.snapshots.values())
        self.snapshots.clear()
        for handle in handles:
            with contextlib.suppress(Exception):
                self.store.discard(handle)
        return self.store.close(with_database=with_database)


_SESSIONS: dict[tuple[str, str], MigrationSession] = {}


def session_for(alias: str) -> MigrationSession:
    """The session of this alias and test database (created on first use)."""
    key = (alias, str(connections[alias].settings_dict.get("NAME")))
    session = _SESSIONS.get(key)
    if session is None:
        session = _SESSIONS[key] = MigrationSession(alias)
    return session


def close_all(with_databases: Collection[str] = ()) -> set[str]:
    """Drop every snapshot of every session (end of the test session; also at exit).

    The test databases of the aliases in `with_databases` are dropped with the snapshots where
    the store can (PostgreSQL: one shared checkpoint); returns the aliases whose databases went.
    """
    dropped: set[str] = set()
    while _SESSIONS:
        (alias, _), session = _SESSIONS.popitem()
        if session.close(with_database=alias in with_databases):
            dropped.add(alias)
    return dropped


atexit.register(close_all)


class _Capture:
    """Snapshots taken while the test database is first migrated, at the states tests will start from."""

    def __init__(self, wanted: Sequence[MigrationTarget], uses: Sequence[MigrationTarget]) -> None:
        self.wanted = list(wanted)
        self.uses = list(uses)
        self.progress: dict[int, list[MigrationKey]] = {}
        self.stops: dict[str, set[int]] = {}

    def stops_for(self, session: MigrationSession) -> set[int]:
        if session.alias not in self.stops:
            stops: set[int] = set()
            for target in self.wanted:
                with contextlib.suppress(Exception):
                    stops.add(len(initial_prefix(resolve([target], session.graph), session.full_plan)))
            self.stops[session.alias] = stops
            session.expect(self.uses)
        return self.stops[session.alias]

    def after_apply(self, executor: Any, state: ProjectState, migration: Any) -> None:
        if executor.loader.applied_migrations or executor.connection.in_atomic_block:
            return  # not a migrate from an empty database
        done = self.progress.setdefault(id(executor), [])
        done.append((migration.app_label, migration.name))
        session = session_for(executor.connection.alias)
        if done != session.full_plan[:len(done)] or len(done) not in self.stops_for(session):
            return
        applied = frozenset(done)
        session.remember(applied, state)
        session.snapshot(applied)
        STATS["captured"] += 1


@contextlib.contextmanager
def capture_during_creation(wanted: Sequence[MigrationTarget],
                            uses: Sequence[MigrationTarget] = ()) -> Iterator[None]:
    """While the test databases are created, snapshot them at the start states of `wanted` targets.

    `uses` names each collected test's start targets (one entry per test), so the last test
    that starts at a state can have its snapshot instead of a copy.
    """
    capture = _Capture(wanted, uses)
    original = MigrationExecutor.apply_migration

    def apply_migration(self: Any, state: Any, migration: Any, fake: bool = False,
                        fake_initial: bool = False) -> Any:
        state = original(self, state, migration, fake=fake, fake_initial=fake_initial)
        capture.after_apply(self, state, migration)
        return state

    MigrationExecutor.apply_migration = apply_migration
    try:
        with frozen_heap():
            yield
    finally:
        MigrationExecutor.apply_migration = original


def summary() -> str:
    """One line on the work the migration tests caused, or "" when none ran."""
    if not STATS:
        return ""
    return (f"{STATS['restored']} snapshot restores, {STATS['snapshots']} snapshots taken"
            f" ({STATS['captured']} while the test database was created),"
            f" {STATS['applied']} migrations applied and {STATS['unapplied']} unapplied by tests,"
            f" {STATS['rendered']} model states rendered")
