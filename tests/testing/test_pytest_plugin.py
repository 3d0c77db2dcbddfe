"""The pytest plugin end to end: a DTM-style suite, isolation between tests, backward, round trip, unittest.

Each run is a pytest subprocess on a throwaway project (pytest-django configures Django
once per process); the suites live in tests/testing/suites/ and run in file order.
"""

from __future__ import annotations

import re

from tests.testing.project import EXPECTED, SUITES, run_pytest, write_project


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


def test_nomigrations_skips_migration_tests(tmp_path):
    project = write_project(tmp_path, {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}, ["dtm_style"])

    run = run_pytest(project, "--nomigrations")

    assert run.outcomes() == {}, run.output[-3000:]
    assert run.output.count(": --nomigrations was specified") == 5, run.output[-3000:]
    assert "5 skipped in" in run.output
