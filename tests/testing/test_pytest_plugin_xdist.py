"""The plugin under pytest-xdist: each worker gets its own test database and snapshots, and nothing is left."""

from __future__ import annotations

import json
import re

from tests.testing.project import EXPECTED, SUITES, run_pytest, write_project
from tests.testing.servers import _leftovers

# Each worker writes down the test database it set up (every worker runs some of the tests).
CONFTEST = '''
import json, os
from pathlib import Path

import pytest


@pytest.fixture(scope="session", autouse=True)
def _where(django_db_setup, django_db_blocker):
    from django.db import connection

    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    Path(f"where-{worker}.json").write_text(json.dumps(connection.settings_dict["NAME"]))
'''


def test_two_workers_on_postgresql_each_with_its_own_database(postgresql_server, tmp_path):
    name = f"mpx_{tmp_path.name[-12:].lower().replace('-', '_')}"
    project = write_project(tmp_path, postgresql_server.django_settings(name), SUITES)
    (project / "conftest.py").write_text(CONFTEST)

    run = run_pytest(project, "-n", "2", "-p", "no:randomly", "--create-db")

    assert run.outcomes() == EXPECTED, run.output[-4000:]
    assert "2 workers [16 items]" in run.output
    where = {p.stem.split("-")[1]: json.loads(p.read_text()) for p in project.glob("where-*.json")}
    assert set(where) == {"gw0", "gw1"}, where
    assert where["gw0"] != where["gw1"] and all(re.search(rf"{name}.*_gw\d$", db) for db in where.values())
    assert _leftovers(postgresql_server, name) == []


def test_reuse_db_twice_then_create_db_on_postgresql(postgresql_server, tmp_path):
    """--reuse-db keeps the test database between runs (and only it); the second run meets a correct schema."""
    name = f"mpr_{tmp_path.name[-12:].lower().replace('-', '_')}"
    project = write_project(tmp_path, postgresql_server.django_settings(name), SUITES)

    try:
        first = run_pytest(project, "--reuse-db")
        kept = _leftovers(postgresql_server, name)
        second = run_pytest(project, "--reuse-db")
        recreated = run_pytest(project, "--create-db")
    finally:
        from tests.databases import admin_connection

        with admin_connection(postgresql_server) as conn:
            conn.autocommit = True
            conn.execute(f'DROP DATABASE IF EXISTS "test_{name}"')

    assert first.outcomes() == EXPECTED, first.output[-4000:]
    assert kept == [f"test_{name}"]  # the reused test database, no snapshot beside it
    assert second.outcomes() == EXPECTED, second.output[-4000:]
    assert recreated.outcomes() == EXPECTED, recreated.output[-4000:]
