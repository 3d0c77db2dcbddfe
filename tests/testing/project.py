"""A throwaway pytest project that uses the ledger app, run in a subprocess (pytest-django needs its own process)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SUITES_DIR = Path(__file__).resolve().parent / "suites"

SUITES = ["beyond", "dtm_style", "isolation"]
"""The suites every database runs, and the outcome each test must have."""
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
    "test_with_a_django_db_mark_as_dtm_docs_write_it": "PASSED",
    "test_1_writes_and_alters": "PASSED",
    "test_2_sees_no_rows_of_test_1": "PASSED",
    "test_3_fails_halfway": "FAILED",
    "test_4_plain_test_sees_latest_schema": "PASSED",
    "test_5_migrator_after_failure_gets_its_schema": "PASSED",
}


@dataclass
class Run:
    code: int
    output: str

    def outcomes(self) -> dict[str, str]:
        """test name -> PASSED/FAILED/ERROR, from -rA's short summary (skips are listed by reason)."""
        found = {}
        for status, nodeid in re.findall(r"^(PASSED|FAILED|ERROR) (\S+::\S+)", self.output, re.M):
            found.setdefault(nodeid.split("::", 1)[1], status)
        return found


def write_project(path: Path, database: dict[str, Any], suites: list[str]) -> Path:
    """settings, pytest.ini and copies of the named suites as test modules under `path`."""
    path.mkdir(parents=True, exist_ok=True)
    (path / "mp_settings.py").write_text(
        "SECRET_KEY = 'x'\nUSE_TZ = True\nDEFAULT_AUTO_FIELD = 'django.db.models.BigAutoField'\n"
        "INSTALLED_APPS = ['django.contrib.contenttypes', 'django.contrib.auth', 'tests.testing.ledger']\n"
        f"DATABASES = {{'default': {database!r},"
        " 'other': {'ENGINE': 'django.db.backends.sqlite3', 'NAME': ':memory:'}}\n")
    (path / "pytest.ini").write_text(
        "[pytest]\nDJANGO_SETTINGS_MODULE = mp_settings\naddopts = -p no:randomly -p no:cacheprovider -rA\n")
    for suite in suites:
        (path / f"test_{suite}.py").write_text((SUITES_DIR / f"{suite}.py").read_text())
    return path


def run_pytest(path: Path, *args: str) -> Run:
    """pytest in `path`, with this checkout (for the ledger app) on the path."""
    env = {key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"}
    env["PYTHONPATH"] = os.pathsep.join([str(path), str(ROOT)])
    done = subprocess.run([sys.executable, "-m", "pytest", *args], cwd=path, env=env,
                          capture_output=True, text=True, timeout=300)
    return Run(done.returncode, done.stdout + done.stderr)
