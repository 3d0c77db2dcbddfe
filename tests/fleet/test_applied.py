"""read_schemas on real PostgreSQL schemas: fingerprints, one read per distinct history, chunked UNION ALLs."""

from __future__ import annotations

import pytest

from migration_pilot.fleet import applied
from tests.databases import admin_connection, scratch_database
from tests.fleet.project import HISTORY_TABLE

HISTORIES = {
    "s0": [("shop", "0001_initial")],
    "s1": [("shop", "0001_initial"), ("shop", "0002_note")],
    "s2": [("shop", "0001_initial")],
    "s3": [],
    "s4": [("shop", "0002_note"), ("shop", "0001_initial"), ("shop", "0001_initial")],  # a duplicated row
    "s5": [("shop", "0001_initial"), ("shop", "0002_note")],
    "s6": [("auth", "0001_initial")],
}


class _Counting:
    """A cursor that keeps the statements it ran."""

    def __init__(self, cursor):
        self.cursor, self.statements = cursor, []

    def execute(self, sql, params=None):
        self.statements.append(sql)
        return self.cursor.execute(sql, params)

    def fetchall(self):
        return self.cursor.fetchall()


@pytest.fixture
def schemas(postgresql_server, scratch_db_access):
    with scratch_database(postgresql_server, "pilot_fleet") as name, admin_connection(postgresql_server, name) as conn:
        for schema, rows in HISTORIES.items():
            conn.execute(f'CREATE SCHEMA "{schema}"')
            conn.execute(HISTORY_TABLE.format(schema=f'"{schema}"'))
            for app, migration in rows:
                conn.execute(f'INSERT INTO "{schema}".django_migrations (app, name, applied) VALUES (%s, %s, now())',
                             [app, migration])
        conn.execute('CREATE SCHEMA "bare"')
        yield conn


def test_every_schema_gets_its_own_applied_set_across_chunks(schemas, monkeypatch):
    monkeypatch.setattr(applied, "CHUNK", 3)
    cursor = _Counting(schemas.cursor())

    state = applied.read_schemas(cursor, [*HISTORIES, "bare"], lambda name: f'"{name}"')

    assert state.applied == {schema: frozenset(rows) for schema, rows in HISTORIES.items()}
    assert state.missing_history == ("bare",)
    assert state.applied["s0"] is state.applied["s2"]  # one shared set per distinct history
    # 1 catalog query, 3 chunks of fingerprints (7 schemas), then the rows of one schema per distinct
    # fingerprint (s0, s1, s3, s4, s6: 5 schemas, 2 chunks).
    assert len(cursor.statements) == 1 + 3 + 2
    assert all(sql.count("UNION ALL") <= 2 for sql in cursor.statements)
