"""The pytest plugin end to end: a DTM-style suite, isolation between tests, backward, round trip, unittest.

Each run is a pytest subprocess on a throwaway project (pytest-django configures Django
once per process); the suites live in tests/testing/suites/ and run in file order.
"""

from __future__ import annotations

import re

import pytest

from tests.databases import admin_connection
from tests.testing.project import run_pytest, write_project

SUITES = ["beyond", "dtm_style", "isolation"]
EXPECTED = {
    "test_backward_runs_reverse_operations": "PASSED",
    "test_round_trip_reports_lossy_reverse": "PASSED",
    "test_round_trip_lossless": "PASSED",
    "test_unknown_migration_is_one_line": "PASSED",
    "test_factory_for_another_database": "PASSED",
    "TestBalanceWithUnittest::test_filled": "PASSED",
    "test_data_migration_fills_balance": "PASSED",
    "test_initial_none_means_no_table": "PASSED",
    "test_list_of_targets": "PASSED",
    "test_factory_and_reset": "PASSED",
    "test_1_writes_and_alters": "PASSED",
    "test_2_sees_no_rows_of_test_1": "PASSED",
    "test_3_fails_halfway": "FAILED",
    "test_4_plain_test_sees_latest_schema": "PASSED",
    "test_5_migrator_after_failure_gets_its_schema": "PASSED",
}


def _summary(output):
    match = re.search(r"migration_pilot: (\d+) snapshot restores, (\d+) snapshots taken \((\d+) while", output)
    assert match, output[-3000:]
    return tuple(int(n) for n in match.groups())


def test_suite_on_sqlite_in_memory(tmp_path):
    project = write_project(tmp_path, {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}, SUITES)

    run = run_pytest(project)

    assert run.outcomes() == EXPECTED, run.output[-4000:]
    restores, taken, captured = _summary(run.output)
    assert captured >= 4  # the literal start targets were snapshotted while the test database was migrated
    assert restores >= 12  # migration tests start from a snapshot, not by migrating from zero


def test_reuse_db_without_creation_still_isolates(tmp_path):
    project = write_project(tmp_path, {"ENGINE": "django.db.backends.sqlite3", "NAME": str(tmp_path / "db.sqlite3"),
                                       "TEST": {"NAME": str(tmp_path / "test_db.sqlite3")}}, ["isolation"])
    first = run_pytest(project, "--reuse-db")

    second = run_pytest(project, "--reuse-db")

    expected = {k: v for k, v in EXPECTED.items() if k.startswith("test_") and k[5].isdigit()}
    assert first.outcomes() == expected, first.output[-3000:]
    assert second.outcomes() == expected, second.output[-3000:]
    assert _summary(second.output)[2] == 0  # nothing captured: the database existed, states were migrated to


def test_marker_selects_migration_tests(tmp_path):
    project = write_project(tmp_path, {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}, SUITES)

    run = run_pytest(project, "--collect-only", "-q", "-m", "not migration_test")

    assert [line for line in run.output.splitlines() if "::" in line] == [
        "test_isolation.py::test_4_plain_test_sees_latest_schema"]


FAKE_DTM = """
import pytest


@pytest.fixture
def migrator():
    return "django-test-migrations' migrator"
"""


def test_names_the_migrator_in_use_when_django_test_migrations_is_there_too(tmp_path):
    project = write_project(tmp_path, {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}, [])
    (project / "django_test_migrations.py").write_text(FAKE_DTM)
    (project / "test_which.py").write_text("def test_which(migrator):\n    assert not isinstance(migrator, str)\n")

    run = run_pytest(project, "-p", "django_test_migrations")

    (line,) = [line for line in run.output.splitlines() if line.startswith("migrator: ")]
    owner = "migration_pilot" if line.startswith("migrator: migration_pilot's") else "django_test_migrations"
    assert run.outcomes() == {"test_which": "PASSED" if owner == "migration_pilot" else "FAILED"}
    assert line.endswith(f"run with -p no:{owner} to use"
                         f" {({'migration_pilot', 'django_test_migrations'} - {owner}).pop()}'s instead.")


def _leftovers(server, prefix):
    with admin_connection(server) as conn:
        cursor = conn.cursor()
        if server.vendor == "postgresql":
            cursor.execute("SELECT datname FROM pg_database WHERE datname LIKE %s", [f"%{prefix}%"])
        else:
            cursor.execute("SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE %s",
                           [f"%{prefix}%"])
        return [row[0] for row in cursor.fetchall()]


@pytest.mark.parametrize("vendor", ["postgresql", "mysql"])
def test_suite_on_server_leaves_nothing_behind(vendor, request, tmp_path):
    server = request.getfixturevalue(f"{vendor}_server")
    name = f"mp_{tmp_path.name[-12:].lower().replace('-', '_')}"
    project = write_project(tmp_path, server.django_settings(name), SUITES)

    run = run_pytest(project)

    assert run.outcomes() == EXPECTED, run.output[-4000:]
    assert _summary(run.output)[2] >= 4
    assert _leftovers(server, name) == []
