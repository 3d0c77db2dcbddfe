"""An in-memory SQLite database is refused by every command that reads or writes the database.

`:memory:` (or a `mode=memory` URI) is empty when a command starts and gone when it ends: a deploy into it
"succeeded" and left nothing, a backup saved an empty database, verify compared nothing. Every command
that connects refuses it in one line, exit 2 (a configuration error), before doing anything.
"""

from __future__ import annotations

import json

import pytest

from tests.pipeline.project import ADD_NOTE, DeployProject

MEMORY_NAMES = [":memory:", "file:pilot_memdb?mode=memory&cache=shared"]

COMMANDS = [
    ("deploy", "--no-backup"),
    ("deploy", "--dry-run"),
    ("deploy",),
    ("rollback", "--no-backup"),
    ("backup",),
    ("restore", "BACKUP", "--yes"),
    ("verify",),
    ("verify", "--prepare"),
    ("plan",),
    ("history",),
    ("rehearse",),
    ("maintain",),
]


def backup_ids(project):
    listed = project.run("backups", "--format", "json")
    assert listed.code == 0, listed.err
    return [entry["id"] for entry in json.loads(listed.out)]


@pytest.fixture(scope="module", params=MEMORY_NAMES, ids=["memory", "uri"])
def in_memory(tmp_path_factory, request):
    """A project deployed (with a backup) on a SQLite file, then pointed at an in-memory database.

    Shared by the cases of one name: each of them is refused before it changes anything (and checks it).
    """
    tmp_path = tmp_path_factory.mktemp("memory")
    path = str(tmp_path / "db.sqlite3")
    project = DeployProject(tmp_path / "p", {"ENGINE": "django.db.backends.sqlite3", "NAME": path})
    assert project.run("deploy").code == 0
    settings = project.root / "settings.py"
    settings.write_text(settings.read_text().replace(repr(path), repr(request.param)))
    project.migration("0002_note", ADD_NOTE)
    return project, request.param


@pytest.mark.parametrize("args", COMMANDS, ids=["-".join(a.strip("-") for a in c[:2]) for c in COMMANDS])
def test_every_command_that_needs_the_database_refuses_an_in_memory_one(in_memory, args):
    project, name = in_memory
    backups = backup_ids(project)
    assert len(backups) == 1

    result = project.run(*[backups[0] if arg == "BACKUP" else arg for arg in args])

    assert result.code == 2, (result.out, result.err)
    assert "Traceback" not in result.out + result.err
    lines = [line for line in result.err.splitlines() if line.strip()]
    assert len(lines) == 1, result.err
    assert (f"Database alias 'default' is an in-memory SQLite database ({name!r}): it is empty when the command"
            " starts and gone when it ends") in lines[0]
    assert "Set DATABASES['default']['NAME'] to a file path." in lines[0]
    assert "Deployed" not in result.out and "Backup " not in result.out
    assert backup_ids(project) == backups


def test_commands_that_never_open_the_database_still_work(in_memory):
    """lint and docs read migration files only: an in-memory alias does not concern them."""
    project, _ = in_memory

    lint = project.run("lint")

    assert lint.code in {0, 1}, lint.out + lint.err
    assert "in-memory" not in lint.out + lint.err


def test_a_file_database_is_not_taken_for_an_in_memory_one(tmp_path):
    """A file whose name merely contains 'memory' deploys normally."""
    path = tmp_path / "memory.sqlite3"
    project = DeployProject(tmp_path / "p", {"ENGINE": "django.db.backends.sqlite3", "NAME": str(path)})

    result = project.deploy()

    assert result.code == 0, result.out + result.err
    assert path.stat().st_size > 0
