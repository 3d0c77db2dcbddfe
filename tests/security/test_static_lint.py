"""S8: `pilot lint --static` never imports a migration module, so none of its code runs.

The fixture migration s8shop/0002_hostile, when imported, writes a marker file
and connects to a loopback port this test listens on. Linted with --static
through the real console script (a subprocess, no settings), it still yields
its findings (AddIndex without CONCURRENTLY, RemoveField dropping a column),
the marker is absent and the listener saw no connection. The same fixture
linted with --import writes the marker and connects: the test can see it.
"""

from __future__ import annotations

import json
import os
import select
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parent / "s8_project"
SCRIPT = Path(sys.executable).parent / "migration-pilot"


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(5)
    try:
        yield server
    finally:
        server.close()


def _connected(server: socket.socket) -> bool:
    """Whether a client connected (a pending connection makes the listening socket readable)."""
    readable, _, _ = select.select([server], [], [], 0.5)
    return bool(readable)


def _lint(args: list[str], tmp_path: Path, server: socket.socket,
          **extra_env: str) -> tuple[subprocess.CompletedProcess[str], Path, Path]:
    marker, settings_marker = tmp_path / "imported", tmp_path / "settings-imported"
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "PYTHONPATH")}
    env.update(PILOT_S8_MARKER=str(marker), PILOT_S8_SETTINGS_MARKER=str(settings_marker),
               PILOT_S8_PORT=str(server.getsockname()[1]), **extra_env)
    done = subprocess.run([str(SCRIPT), *args], cwd=tmp_path, env=env, text=True,
                          capture_output=True, timeout=120, check=False)
    return done, marker, settings_marker


def _findings(stdout: str) -> set[tuple[str, str, str, int | None]]:
    return {(f["rule"], f["app"], f["migration"], f["operation"])
            for f in json.loads(stdout)["findings"]}


def test_static_lint_finds_the_hazards_without_running_the_migration(tmp_path, listener):
    done, marker, settings_marker = _lint(
        ["lint", "--static", str(PROJECT), "--format", "json", "--fail-on", "never"],
        tmp_path, listener,
        # A settings module in the environment is not imported in static mode either.
        DJANGO_SETTINGS_MODULE="s8_settings", PYTHONPATH=str(PROJECT))

    assert done.returncode == 0, done.stderr
    findings = _findings(done.stdout)
    assert ("add-index-non-concurrent", "s8shop", "0002_hostile", 0) in findings
    assert ("drop-column", "s8shop", "0002_hostile", 1) in findings
    assert not marker.exists()
    assert not settings_marker.exists()
    assert not _connected(listener)
    assert "missing-migration was not run" in done.stderr


def test_import_mode_runs_the_migration_so_the_test_can_see_it(tmp_path, listener):
    done, marker, _ = _lint(
        ["--settings", "s8_settings", "--pythonpath", str(PROJECT), "lint", "--import", "s8shop",
         "--vendor", "postgresql", "--format", "json", "--fail-on", "never"],
        tmp_path, listener)

    assert done.returncode == 0, done.stderr
    assert ("add-index-non-concurrent", "s8shop", "0002_hostile", 0) in _findings(done.stdout)
    assert marker.read_text() == "migration module imported"
    assert _connected(listener)


def test_static_and_import_together_is_a_usage_error(tmp_path, listener):
    done, marker, _ = _lint(["lint", "--static", "--import", str(PROJECT)], tmp_path, listener)

    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0
    assert done.stderr.startswith("error: --static and --import cannot be used together")
    assert not marker.exists()


def test_static_path_that_does_not_exist_is_a_usage_error(tmp_path, listener):
    missing = tmp_path / "nowhere"

    done, _, _ = _lint(["lint", "--static", str(missing)], tmp_path, listener)

    assert done.returncode == 2
    assert done.stderr.strip() == (f"error: Path {missing} does not exist. Pass directories that"
                                   " contain apps with migrations/ packages (default: the current"
                                   " directory).")


def test_static_lint_does_not_import_modules_from_the_current_directory(tmp_path, listener):
    # A pull request could add a package named like a library at the checkout's root.
    shadow = tmp_path / "django"
    shadow.mkdir()
    (shadow / "__init__.py").write_text(
        "import os, pathlib\npathlib.Path(os.environ['PILOT_S8_MARKER']).write_text('shadow')\n")

    done, marker, _ = _lint(["lint", "--static", str(PROJECT), "--format", "json",
                             "--fail-on", "never"], tmp_path, listener)

    assert done.returncode == 0, done.stderr
    assert ("drop-column", "s8shop", "0002_hostile", 1) in _findings(done.stdout)
    assert not marker.exists()
