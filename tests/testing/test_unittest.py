"""MigratorTestCase under Django's own test runner: DTM's names, isolation, backward, the migration_test tag."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.testing.project import ROOT, SUITES_DIR, write_project

RUNNER = """
import os, sys, django
os.environ["DJANGO_SETTINGS_MODULE"] = "mp_settings"
django.setup()
from django.test.runner import DiscoverRunner
sys.exit(DiscoverRunner(verbosity=2, exclude_tags=sys.argv[1:]).run_tests(["test_cases"]))
"""


def _run(path, *exclude):
    env = {key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"}
    env["PYTHONPATH"] = os.pathsep.join([str(path), str(ROOT)])
    done = subprocess.run([sys.executable, "run_tests.py", *exclude], cwd=path, env=env,
                          capture_output=True, text=True, timeout=120)
    return done.returncode, done.stdout + done.stderr


def test_manage_py_test_runs_and_excludes_migration_tests(tmp_path):
    project = write_project(tmp_path, {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}, [])
    (project / "test_cases.py").write_text((SUITES_DIR / "unittest_cases.py").read_text())
    (project / "run_tests.py").write_text(RUNNER)

    code, output = _run(project)
    excluded_code, excluded_output = _run(project, "migration_test")

    assert code == 0, output[-3000:]
    assert "Ran 3 tests" in output
    assert output.index("FillTest.test_filled") < output.index("FillThenNoRowsTest")  # the writer ran first
    assert excluded_code == 0 and "Ran 0 tests" in excluded_output, excluded_output[-2000:]
