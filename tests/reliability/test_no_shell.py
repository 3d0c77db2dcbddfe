"""S3: no shell. Names from settings reach child tools (pg_dump, mariadb-dump, pg_restore, mariadb) as
literal arguments; shell syntax in a database name or a SQLite path runs nothing.
"""

from __future__ import annotations

import ast
import json
import uuid
from pathlib import Path

import pytest

import migration_pilot
from tests.databases import admin_connection
from tests.pipeline.inspect_db import applied
from tests.pipeline.project import ADD_NOTE, NOTE_FIELDS, DeployProject

SOURCE = Path(migration_pilot.__file__).parent


def test_the_package_never_asks_for_a_shell():
    """Every subprocess call in the package is an argument list without shell=True; no os.system/os.popen."""
    offenders = []
    for path in sorted(SOURCE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            called = ast.unparse(node.func)
            shell = any(k.arg == "shell" and not (isinstance(k.value, ast.Constant) and k.value.value is False)
                        for k in node.keywords)
            if shell or called in {"os.system", "os.popen", "subprocess.getoutput", "subprocess.getstatusoutput"}:
                offenders.append(f"{path.relative_to(SOURCE)}:{node.lineno}: {called}")
    assert offenders == []


def hostile_name(marker: str) -> str:
    return f"pilot_s3_{uuid.uuid4().hex[:6]} $(touch {marker}); touch {marker} #"


@pytest.fixture
def hostile(vendor, request, tmp_path, scratch_db_access):
    """(project, vendor, server, name): a database whose name (or SQLite path) is shell syntax."""
    if vendor == "sqlite":
        directory = tmp_path / hostile_name("pwned")
        directory.mkdir()
        name = str(directory / "db.sqlite3")
        yield DeployProject(tmp_path / "project", {"ENGINE": "django.db.backends.sqlite3", "NAME": name}), \
            vendor, None, name
        return
    server = request.getfixturevalue(f"{vendor}_server")
    name = hostile_name("pwned")
    quoted = f'"{name}"' if vendor == "postgresql" else f"`{name}`"
    with admin_connection(server) as conn:
        conn.cursor().execute(f"CREATE DATABASE {quoted}")
    try:
        yield DeployProject(tmp_path / "project", server.django_settings(name)), vendor, server, name
    finally:
        with admin_connection(server) as conn:
            force = " WITH (FORCE)" if vendor == "postgresql" else ""
            conn.cursor().execute(f"DROP DATABASE IF EXISTS {quoted}{force}")


@pytest.mark.parametrize("vendor", ["sqlite", "postgresql", "mysql"])
def test_shell_syntax_in_the_database_name_runs_nothing(hostile, tmp_path):
    project, vendor, server, name = hostile
    markers = [project.root / "pwned", tmp_path / "pwned", Path.cwd() / "pwned"]

    first = project.run("deploy", "--format", "json")
    project.migration("0002_note", ADD_NOTE)
    project.models(NOTE_FIELDS)
    second = project.run("deploy", "--format", "json")  # with its pre-deploy backup of the hostile name
    backup_id = json.loads(second.out)["backup_id"] if second.code == 0 else None
    restored = project.run("restore", str(backup_id), "--yes", "--discard-writes")

    assert first.code == 0, first.out + first.err
    assert second.code == 0, second.out + second.err
    assert restored.code == 0, restored.out + restored.err
    assert [m for m in markers if m.exists()] == []
    shop = [key for key in applied(vendor, server, name) if key[0] == "shop"]
    assert shop == [("shop", "0001_initial")]  # the backup was taken before 0002 and is what came back
