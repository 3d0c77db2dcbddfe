"""The plugin end to end on a PostgreSQL server: the same suites as on SQLite, and no database left behind."""

from __future__ import annotations

from tests.testing.servers import run_on_server


def test_suite_on_postgresql_leaves_nothing_behind(postgresql_server, tmp_path):
    run_on_server(postgresql_server, tmp_path)
