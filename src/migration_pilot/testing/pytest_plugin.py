"""pytest plugin (entry point `migration_pilot` in `pytest11`): `migrator` and `migrator_factory` fixtures.

The fixtures have django-test-migrations' names and API, so a DTM test suite runs
unchanged:

    def test_status_is_backfilled(migrator):
        old_state = migrator.apply_initial_migration(("shop", "0002_invoice"))
        old_state.apps.get_model("shop", "Invoice").objects.create(total=3)
        new_state = migrator.apply_tested_migration(("shop", "0003_invoice_status"))
        assert new_state.apps.get_model("shop", "Invoice").objects.get().status == "open"

Each test starts from a snapshot and the database is restored to the latest
migrations after it. With django-test-migrations installed too, the collection
report says which plugin's `migrator` is used; `-p no:migration_pilot` or
`-p no:django_test_migrations` picks the other.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Collection, Generator, Iterator
from typing import TYPE_CHECKING, Any, Protocol

import pytest

if TYPE_CHECKING:
    from migration_pilot.testing.migrator import Migrator

MARKER = "migration_test"
_FIXTURES = ("migrator", "migrator_factory")
_TARGETS = pytest.StashKey[list[Any]]()
_USES = pytest.StashKey[list[Any]]()
_OWNER = pytest.StashKey[str]()
_NAMES = pytest.StashKey[dict[str, Any]]()


class MigratorFactory(Protocol):
    """The `migrator_factory` fixture: a Migrator for a database alias, reset after the test."""

    def __call__(self, database_name: str | None = None) -> Migrator: ...


def pytest_configure(config: pytest.Config) -> None:
    """Register the marker every migration test gets."""
    config.addinivalue_line("markers", f"{MARKER}: a Django migration test (uses migrator or MigratorTestCase).")


def _is_migration_test(item: pytest.Item) -> bool:
    from migration_pilot.testing.unittest import MigratorTestCase

    cls = getattr(item, "cls", None)
    uses_fixture = any(name in getattr(item, "fixturenames", ()) for name in _FIXTURES)
    return uses_fixture or (isinstance(cls, type) and issubclass(cls, MigratorTestCase))


def _owner(session: pytest.Session, items: list[pytest.Item]) -> str:
    """Which plugin's `migrator` the collected tests get ("migration_pilot" unless another overrides it)."""
    item = next((i for i in items if "migrator" in getattr(i, "fixturenames", ())), None)
    if item is None:
        return "migration_pilot"
    defs = session._fixturemanager.getfixturedefs("migrator", item) or ()
    module = getattr(defs[-1].func, "__module__", "") if defs else ""
    return "django_test_migrations" if module.startswith("django_test_migrations") else "migration_pilot"


_DJANGO_DB_ARGS = ("transaction", "reset_sequences", "databases", "serialized_rollback", "available_apps")


def _make_transactional(item: pytest.Item) -> None:
    """A django_db mark on a migration test must not wrap it in a transaction: migrations need none."""
    mark = item.get_closest_marker("django_db")
    if mark is None:
        return
    kwargs = {**dict(zip(_DJANGO_DB_ARGS, mark.args, strict=False)), **mark.kwargs}
    if not kwargs.get("transaction"):
        item.add_marker(pytest.mark.django_db(**{**kwargs, "transaction": True}), append=False)


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark migration tests and note the literal start targets their modules name."""
    from migration_pilot.testing.prescan import targets_in_files, targets_of_test

    config.stash[_OWNER] = _owner(session, items)
    with contextlib.suppress(Exception):  # Django not configured: nothing to remember
        from django.db import connections

        config.stash[_NAMES] = {alias: connections[alias].settings_dict["NAME"] for alias in connections}
    tests = [item for item in items if _is_migration_test(item)]
    uses = []
    for item in tests:
        item.add_marker(MARKER)
        _make_transactional(item)
        uses.extend(targets_of_test(getattr(item, "function", None), getattr(item, "cls", None)))
    if config.stash[_OWNER] != "migration_pilot":
        return  # the other plugin's migrator runs these tests: take no snapshots for them
    config.stash[_TARGETS] = targets_in_files(item.path for item in tests)
    config.stash[_USES] = uses


def pytest_report_collectionfinish(config: pytest.Config, items: list[pytest.Item]) -> list[str]:
    """Say which plugin's `migrator` is used when django-test-migrations is installed too."""
    if not config.pluginmanager.has_plugin("django_test_migrations"):
        return []
    owner = config.stash.get(_OWNER, "migration_pilot")
    other = "django_test_migrations" if owner == "migration_pilot" else "migration_pilot"
    return [f"migrator: {owner}'s fixture is in use (django-test-migrations is installed too);"
            f" run with -p no:{owner} to use {other}'s instead."]


@pytest.hookimpl(wrapper=True)
def pytest_fixture_setup(
    fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest
) -> Generator[None, Any, Any]:
    """While pytest-django creates the test databases, snapshot them at the collected tests' start states."""
    wanted = request.config.stash.get(_TARGETS, [])
    if fixturedef.argname != "django_db_setup" or not wanted:
        return (yield)
    from migration_pilot.testing.session import capture_during_creation

    uses: list[Any] = request.config.stash.get(_USES, [])
    with capture_during_creation(wanted, uses):
        return (yield)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """One line on what the migration tests cost: restores, snapshots, migrations run, states rendered."""
    from migration_pilot.testing.session import summary

    line = summary()
    if line:
        terminalreporter.write_line(f"migration_pilot: {line}.")


class _TestDatabases:
    """Test databases for aliases only migration tests use: pytest-django creates those other tests ask for."""

    def __init__(self, config: pytest.Config, keepdb: bool) -> None:
        self.config = config
        self.keepdb = keepdb
        self.created: list[tuple[Any, str]] = []

    def ensure(self, alias: str) -> None:
        """Create the test database of `alias` (capturing start states on the way) unless it exists."""
        from django.db import connections

        from migration_pilot.testing.session import capture_during_creation

        connection = connections[alias]
        original = self.config.stash.get(_NAMES, {}).get(alias)
        if original is None or connection.settings_dict["NAME"] != original:
            return  # pytest-django (or an earlier call) made it already
        wanted: list[Any] = self.config.stash.get(_TARGETS, [])
        uses: list[Any] = self.config.stash.get(_USES, [])
        with capture_during_creation(wanted, uses):
            connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=self.keepdb, serialize=False)
        self.created.append((connection, original))

    def droppable(self) -> set[str]:
        """Aliases whose test databases ensure() created and destroy() would drop."""
        return set() if self.keepdb else {connection.alias for connection, _ in self.created}

    def destroy(self, dropped: Collection[str] = ()) -> None:
        """Drop the test databases ensure() created (kept with --reuse-db; `dropped`: gone already)."""
        while self.created:
            connection, original = self.created.pop()
            keep = self.keepdb or connection.alias in dropped
            connection.creation.destroy_test_db(original, verbosity=0, keepdb=keep)


@pytest.fixture(scope="session")
def _migration_pilot_sessions(request: pytest.FixtureRequest, django_db_setup: None, django_db_blocker: Any,
                              django_db_keepdb: bool) -> Iterator[_TestDatabases]:
    """Test databases migration tests need; drops the snapshots before the test databases go."""
    databases = _TestDatabases(request.config, django_db_keepdb)
    yield databases
    from migration_pilot.testing.session import close_all

    with django_db_blocker.unblock():
        databases.destroy(close_all(with_databases=databases.droppable()))


@pytest.fixture
def migrator_factory(request: pytest.FixtureRequest, django_db_setup: None, django_db_blocker: Any,
                     django_db_use_migrations: bool,
                     _migration_pilot_sessions: _TestDatabases) -> Iterator[MigratorFactory]:
    """A Migrator for any database alias; each is reset to the latest migrations after the test.

        def test_other_database(migrator_factory):
            migrator = migrator_factory("reports")
            migrator.apply_initial_migration(("stats", "0001_initial"))

    It opens database access itself, outside any transaction, like pytest-django's
    `transactional_db`. Instead of flushing every table after the test, each database it
    touched is put back to the copy taken before the first migration test, which removes the
    test's rows and schema changes alike. A test that also asks for `transactional_db` or has a
    `django_db` mark gets it too (made transactional), and is reset before that flush.
    """
    if not django_db_use_migrations:
        pytest.skip("--nomigrations was specified")
    if request.node.get_closest_marker("django_db") or "transactional_db" in request.fixturenames:
        request.getfixturevalue("transactional_db")
    migrators: list[Migrator] = []

    from migration_pilot.testing.migrator import Migrator

    def factory(database_name: str | None = None) -> Migrator:
        _migration_pilot_sessions.ensure(database_name or "default")
        migrator = Migrator(database_name)
        migrators.append(migrator)
        return migrator

    with django_db_blocker.unblock():
        try:
            yield factory
        finally:
            for migrator in reversed(migrators):
                migrator.reset()


@pytest.fixture
def migrator(migrator_factory: Callable[..., Migrator]) -> Migrator:
    """A Migrator for the default database, reset to the latest migrations after the test."""
    return migrator_factory()
