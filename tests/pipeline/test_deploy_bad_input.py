"""Bad input to deploy, plan, rollback and history: one line, documented exit code, nothing changed."""

from __future__ import annotations

from pathlib import Path

import pytest

import migration_pilot
from tests.pipeline.project import DeployProject

# The package's own history migrations, whatever this release has.
OWN_MIGRATIONS = Path(migration_pilot.__file__).parent / "migrations"


def one_line(result, code, *needles):
    assert result.code == code, (result.out, result.err)
    assert "Traceback" not in result.err
    lines = [line for line in result.err.splitlines() if line.strip()]
    assert len(lines) == 1, result.err
    for needle in needles:
        assert needle in lines[0], lines[0]


@pytest.fixture
def sqlite_project(tmp_path):
    return DeployProject(tmp_path / "p", {"ENGINE": "django.db.backends.sqlite3",
                                          "NAME": str(tmp_path / "db.sqlite3")}), str(tmp_path / "db.sqlite3")


def test_unknown_target_migration(sqlite_project):
    project, name = sqlite_project

    one_line(project.deploy("--target", "shop", "0099_nope"), 2, "Unknown migration target shop 0099_nope")


def test_unknown_target_app(sqlite_project):
    project, _ = sqlite_project

    one_line(project.deploy("--target", "nope", "0001"), 2, "Unknown app label 'nope'")


def test_unknown_alias(sqlite_project):
    project, _ = sqlite_project

    one_line(project.deploy("--database", "replica"), 2, "Unknown database alias 'replica'")


@pytest.mark.parametrize("flag", ["--lock-timeout", "--statement-timeout", "--wait"])
def test_bad_duration(sqlite_project, flag):
    project, _ = sqlite_project

    one_line(project.deploy(flag, "soon"), 2, "Bad duration 'soon'")


def test_lock_timeout_must_be_shorter_than_statement_timeout(sqlite_project):
    project, _ = sqlite_project

    one_line(project.deploy("--lock-timeout", "10s", "--statement-timeout", "5s"), 2,
             "must be shorter than statement timeout")


def test_unreachable_database_never_shows_the_password(tmp_path):
    project = DeployProject(tmp_path / "p", {"ENGINE": "django.db.backends.postgresql", "NAME": "x",
                                             "USER": "u", "PASSWORD": "s3cret-pw", "HOST": "127.0.0.1",
                                             "PORT": "1"})

    result = project.deploy()

    one_line(result, 2, "Cannot connect to database alias 'default' at 127.0.0.1:1")
    assert "s3cret-pw" not in result.out + result.err


def test_history_requires_the_app(tmp_path):
    project = DeployProject(tmp_path / "p", {"ENGINE": "django.db.backends.sqlite3",
                                             "NAME": str(tmp_path / "db.sqlite3")})
    settings = project.root / "settings.py"
    settings.write_text(settings.read_text().replace('["migration_pilot", "shop"]', '["shop"]'))

    one_line(project.run("history"), 2, "needs 'migration_pilot' in INSTALLED_APPS")


def test_dry_run_changes_nothing(sqlite_project):
    project, name = sqlite_project

    result = project.deploy("--dry-run")

    assert result.code == 0, result.out + result.err
    assert "Dry run" in result.out
    from tests.pipeline.inspect_db import query

    assert query("sqlite", None, name, "SELECT name FROM sqlite_master WHERE type = 'table'") == []


BROKEN_MIGRATIONS = {
    "syntax error": ("from django.db import migrations\nclass Migration(migrations.Migration:\n    pass\n",
                     "Syntax error in {path}:2: invalid syntax"),
    "no Migration class": ("from django.db import migrations\nclass NotAMigration:\n    pass\n",
                           "Migration 0002_broken in app shop has no Migration class"),
    "failing import": ("import no_such_module_here\n", "Cannot import migration {path}: No module named"),
    "missing dependency": ("from django.db import migrations\nclass Migration(migrations.Migration):\n"
                           "    dependencies = [('shop', '0009_nope')]\n",
                           "Migration shop.0002_broken dependencies reference nonexistent parent node"
                           " ('shop', '0009_nope')"),
}


@pytest.mark.parametrize("kind", sorted(BROKEN_MIGRATIONS))
def test_broken_migration_files_are_refused_in_one_line(sqlite_project, kind):
    """D2/D7: what migrate shows as a traceback, deploy, rollback and plan answer in one line."""
    from tests.pipeline.inspect_db import applied

    project, name = sqlite_project
    assert project.deploy().code == 0
    text, expected = BROKEN_MIGRATIONS[kind]
    project.migration("0002_broken", text)
    expected = expected.format(path=project.root / "shop" / "migrations" / "0002_broken.py")

    deploy, rollback, plan = project.deploy(), project.run("rollback", "--no-backup"), project.run("plan")

    for refused in (deploy, rollback):
        assert refused.code == 1, refused.out + refused.err
        assert "Traceback" not in refused.err and refused.err == ""
        assert f"Refused: {expected}" in refused.out
    one_line(plan, 2, expected)
    own = sorted(("migration_pilot", path.stem) for path in OWN_MIGRATIONS.glob("0*.py"))
    assert applied("sqlite", None, name) == [*own, ("shop", "0001_initial")]
