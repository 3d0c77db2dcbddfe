"""`pilot deploy --check CMD`: post-deploy checks after apply and verify; a failing one triggers --on-failure."""

from __future__ import annotations

import shlex
import sys

from tests.pipeline.inspect_db import applied
from tests.pipeline.project import ADD_NOTE, NOTE_FIELDS, DeployProject, database_settings


def sqlite_project(tmp_path):
    name = str(tmp_path / "db.sqlite3")
    project = DeployProject(tmp_path / "project", database_settings("sqlite", None, name))
    assert project.deploy().code == 0
    project.migration("0002_note", ADD_NOTE)
    project.models(NOTE_FIELDS)
    return project, name


def python(code: str) -> str:
    return shlex.join([sys.executable, "-c", code])


def test_passing_check_keeps_the_deploy(tmp_path):
    project, name = sqlite_project(tmp_path)
    marker = tmp_path / "checked"

    result = project.deploy("--check", python(f"open({str(marker)!r}, 'w').write('ok')"))

    assert result.code == 0, result.out + result.err
    assert marker.read_text() == "ok"
    assert "Check passed" in result.out
    assert ("shop", "0002_note") in applied("sqlite", None, name)


def test_failing_check_rolls_the_migration_back_and_shows_its_output(tmp_path):
    project, name = sqlite_project(tmp_path)
    failing = python("import sys; print('health: 503 from /ready'); sys.exit(7)")

    result = project.deploy("--check", python("pass"), "--check", failing, "--on-failure", "rollback")

    assert result.code == 3, result.out + result.err
    assert "health: 503 from /ready" in result.out
    assert f"check {failing!r} exited 7" in result.out
    assert ("shop", "0002_note") not in applied("sqlite", None, name)
    assert ("shop", "0001_initial") in applied("sqlite", None, name)


def test_check_timeout_fails_the_deploy(tmp_path):
    project, name = sqlite_project(tmp_path)

    result = project.deploy("--check", python("import time; time.sleep(30)"), "--check-timeout", "1s")

    assert result.code == 3, result.out + result.err
    assert "timed out after 1s" in result.out
    assert ("shop", "0002_note") not in applied("sqlite", None, name)


def test_unbalanced_check_command_is_a_usage_error(tmp_path):
    project, name = sqlite_project(tmp_path)

    result = project.deploy("--check", "echo 'unterminated")

    assert result.code == 2
    assert "Bad --check" in result.err
    assert "Traceback" not in result.err
    assert ("shop", "0002_note") not in applied("sqlite", None, name)
