"""`Migrator`: django-test-migrations' API over a session that reuses states and snapshots.

    old_state = migrator.apply_initial_migration(("shop", "0002_invoice"))
    Invoice = old_state.apps.get_model("shop", "Invoice")
    Invoice.objects.create(total=3)
    new_state = migrator.apply_tested_migration(("shop", "0003_invoice_status"))
    assert new_state.apps.get_model("shop", "Invoice").objects.get().status == "open"

`apply_tested_migration` follows `manage.py migrate` semantics, so a target older than
the current state runs the reverse operations. `round_trip(target)` applies one
migration forward, backward and forward again and reports rows lost or changed.
"""

from __future__ import annotations

from typing import Any

from django.db import DEFAULT_DB_ALIAS
from django.db.migrations.state import ProjectState

from migration_pilot.testing import roundtrip
from migration_pilot.testing.errors import MigrationOrderError, MigrationTargetError
from migration_pilot.testing.session import MigrationSession, session_for
from migration_pilot.testing.targets import MigrationSpec, normalize, resolve


class Migrator:
    """Moves one test database between migration states; `reset()` puts it back at the latest."""

    def __init__(self, database: str | None = None) -> None:
        self._database = database or DEFAULT_DB_ALIAS
        self._session: MigrationSession = session_for(self._database)

    @property
    def database(self) -> str:
        """The database alias this migrator drives."""
        return self._database

    @property
    def restores(self) -> bool:
        """True when reset() restores a copy of the database (rows included), so no flush is needed."""
        return bool(self._session.store.supported)

    def apply_initial_migration(self, targets: MigrationSpec) -> ProjectState:
        """Start from the state right after `targets` (the plan prefix ending there), with no rows of other tests."""
        return self._session.start_at(targets)

    def apply_tested_migration(self, targets: MigrationSpec) -> ProjectState:
        """Migrate to `targets` forward or backward, as `manage.py migrate app name` would; returns the new state."""
        return self._session.migrate_to(targets)

    def reset(self) -> None:
        """Put the database back at the latest migrations, with the rows it had before the first migration test."""
        self._session.reset()

    def round_trip(self, target: Any) -> roundtrip.RoundTripReport:
        """Apply one not-yet-applied migration forward, backward and forward again; report rows lost or changed.

        Compares the touched tables before the migration with after forward+backward, and
        after the first forward with after the second. The database ends with the migration applied.
        """
        (app, name), = resolve(normalize(target), self._session.graph)
        if name is None:
            raise MigrationTargetError(target, "a round trip needs one migration, not None",
                                       hint="Pass ('app_label', 'migration_name').")
        session = self._session
        if (app, name) in session.applied():
            raise MigrationOrderError(f"{app}.{name} is already applied, so it cannot be rolled forward.",
                                      hint="Call apply_initial_migration with the migration before it first.")
        migration = session.graph.nodes[(app, name)]
        parents = sorted(node.key for node in session.graph.node_map[(app, name)].parents if node.key[0] == app)
        start = session.applied()
        tables = roundtrip.touched_tables(
            migration, [session.state_for(start), session.state_for(start | {(app, name)})])
        connection = session.connection
        rows_before = roundtrip.fingerprint(connection, tables)
        session.migrate_to((app, name))
        rows_after = roundtrip.fingerprint(connection, tables)
        session.migrate_to(parents[-1] if parents else (app, None))
        rows_back = roundtrip.fingerprint(connection, tables)
        session.migrate_to((app, name))
        rows_again = roundtrip.fingerprint(connection, tables)
        return roundtrip.RoundTripReport(
            migration=(app, name), tables=tuple(tables),
            backward=roundtrip.compare(rows_before, rows_back),
            forward_again=roundtrip.compare(rows_after, rows_again))
