"""S13: client tools come from the `tools` setting (absolute paths, checked) or PATH, and -v 2 names them.

The configured tools are shims outside PATH that log their arguments and then
run the real binary, so a logged dump or restore proves the configured file
did the work, not a PATH one.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

REAL = {"pg_dump": "/usr/lib/postgresql/15/bin/pg_dump", "pg_restore": "/usr/lib/postgresql/15/bin/pg_restore",
        "psql": "/usr/lib/postgresql/15/bin/psql", "mariadb-dump": shutil.which("mariadb-dump") or "",
        "mariadb": shutil.which("mariadb") or ""}
TOOLS = {"postgresql": ("pg_dump", "pg_restore", "psql"), "mysql": ("mariadb-dump", "mariadb")}


def _configure(shop, tools: dict[str, str]) -> dict[str, str]:
    """A settings module importing the shop's and adding MIGRATION_PILOT = {'tools': tools}; returns the env."""
    (shop.cwd / "tool_settings.py").write_text(
        f"from shopsite.settings import *  # noqa: F403\nMIGRATION_PILOT = {{'tools': {tools!r}}}\n")
    return {**shop.env, "DJANGO_SETTINGS_MODULE": "tool_settings", "PYTHONPATH": str(shop.cwd)}


def _shims(tmp_path: Path, names: tuple[str, ...]) -> dict[str, Path]:
    """Per tool, a script outside PATH that appends its arguments to <name>.ran and runs the real binary."""
    folder = tmp_path / "configured-bin"
    folder.mkdir()
    shims = {}
    for name in names:
        if not REAL[name] or not Path(REAL[name]).is_file():
            pytest.skip(f"{name} is not installed at a known path")
        shim = folder / name
        shim.write_text(f'#!/bin/sh\necho "$@" >> "{tmp_path / (name + ".ran")}"\nexec "{REAL[name]}" "$@"\n')
        shim.chmod(0o755)
        shims[name] = shim
    return shims


@pytest.mark.parametrize("vendor", ["postgresql", "mysql"])
def test_configured_tools_run_and_verbose_output_names_them(shop, tmp_path):
    shims = _shims(tmp_path, TOOLS[shop.vendor])
    env = _configure(shop, {name: str(path) for name, path in shims.items()})

    backup = shop.pilot("backup", "-v", "2", "--format", "json", env=env)
    assert backup.code == 0, backup.err
    manifest = json.loads(backup.out)
    restore = shop.pilot("restore", manifest["id"], "--yes", "-v", "2", "--format", "json", env=env)

    assert restore.code == 0, restore.err
    dump, client = (("pg_dump", "pg_restore") if shop.vendor == "postgresql" else ("mariadb-dump", "mariadb"))
    for name in (dump, client):
        runs = (tmp_path / f"{name}.ran").read_text().splitlines()
        assert any(run != "--version" for run in runs), runs
    assert manifest["tool_paths"][dump] == str(shims[dump])
    assert json.loads(restore.out)["tools"][client] == str(shims[client])
    for output, name in ((backup.err, dump), (restore.err, client)):
        line = next(line for line in output.splitlines() if line.startswith(f"Tool {name}: "))
        version = Path(REAL[name]).name if shop.vendor == "postgresql" else "Distrib"
        assert line.startswith(f"Tool {name}: {shims[name]} (") and version in line, line
        assert line.endswith("from the tools setting."), line


@pytest.mark.parametrize("vendor", ["postgresql", "mysql"])
def test_tools_from_path_are_named_with_their_version_only_at_verbosity_2(shop):
    quiet = shop.pilot("backup", env=shop.env)
    loud = shop.pilot("backup", "-v", "2", env=shop.env)

    assert quiet.code == 0 and loud.code == 0, quiet.err + loud.err
    assert "Tool " not in quiet.err
    dump = "pg_dump" if shop.vendor == "postgresql" else "mariadb-dump"
    expected = shutil.which(dump)
    line = next(line for line in loud.err.splitlines() if line.startswith(f"Tool {dump}: "))
    assert line.startswith(f"Tool {dump}: {expected} (") and line.endswith("from PATH."), line
    assert "Ver " in line or "(PostgreSQL) 15" in line, line


@pytest.mark.parametrize("vendor", ["postgresql", "mysql"])
@pytest.mark.parametrize("case", ["missing", "not-executable", "directory", "relative"])
def test_a_bad_configured_path_is_refused_in_one_line(shop, tmp_path, case):
    dump = "pg_dump" if shop.vendor == "postgresql" else "mariadb-dump"
    marker = tmp_path / "ran"
    in_cwd = shop.cwd / dump
    in_cwd.write_text(f"#!/bin/sh\ntouch {marker}\nexit 1\n")  # what a relative path would find
    in_cwd.chmod(0o755 if case == "relative" else 0o644)
    where = {"missing": str(tmp_path / "nowhere" / dump), "not-executable": str(in_cwd),
             "directory": str(tmp_path), "relative": f"./{dump}"}[case]
    env = _configure(shop, {dump: where})

    result = shop.pilot("backup", env=env)

    assert result.code == 2, result.out + result.err
    assert result.err.startswith("error: ") and result.err.count("\n") == 1, result.err
    assert f"tools setting gives {dump} as" in result.err
    assert {"missing": "does not exist", "not-executable": "is not an executable file",
            "directory": "is not an executable file", "relative": "not an absolute path"}[case] in result.err
    assert not marker.exists()
    assert not shop.backups.exists() or [p.name for p in shop.backups.iterdir()] in ([], [".gitignore"])


@pytest.mark.parametrize("vendor", ["postgresql"])
def test_an_unknown_tool_name_in_the_setting_is_refused(shop):
    env = _configure(shop, {"pg_dumpall": "/usr/bin/pg_dumpall"})

    result = shop.pilot("backup", env=env)

    assert result.code == 2 and result.err.count("\n") == 1, result.err
    assert "unknown tool 'pg_dumpall'" in result.err and "Known tools: pg_dump" in result.err
