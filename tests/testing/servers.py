"""Run the ledger suites against a real server and check that no snapshot database is left behind."""

from __future__ import annotations

import re

from tests.databases import admin_connection
from tests.testing.project import EXPECTED, SUITES, run_pytest, write_project


def _leftovers(server, prefix):
    with admin_connection(server) as conn:
        cursor = conn.cursor()
        if server.vendor == "postgresql":
            cursor.execute("SELECT datname FROM pg_database WHERE datname LIKE %s", [f"%{prefix}%"])
        else:
            cursor.execute("SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE %s",
                           [f"%{prefix}%"])
        return [row[0] for row in cursor.fetchall()]


def run_on_server(server, tmp_path, *args, deselected=()):
    """Every suite passes as on SQLite, start states were captured, and the server is left clean.

    `args` go to pytest; `deselected` names the tests they leave out.
    """
    name = f"mp_{tmp_path.name[-12:].lower().replace('-', '_')}"
    project = write_project(tmp_path, server.django_settings(name), SUITES)

    run = run_pytest(project, *args)

    assert run.outcomes() == {test: outcome for test, outcome in EXPECTED.items() if test not in deselected}, \
        run.output[-4000:]
    captured = re.search(r"\((\d+) while the test database was created\)", run.output)
    assert captured and int(captured.group(1)) >= 4, run.output[-2000:]
    assert _leftovers(server, name) == []
