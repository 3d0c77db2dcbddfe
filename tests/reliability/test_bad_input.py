"""Bad input named by issue 17: one line on stderr, a documented exit code, nothing changed.

These inputs are read before any database work, the same way on every vendor, so they run on SQLite
(the database-independent parsing is what is under test).
"""

from __future__ import annotations

import pytest

from tests.pipeline.inspect_db import applied, query
from tests.pipeline.project import ADD_NOTE, NOTE_FIELDS, DeployProject


def one_line(result, code, *needles):
    assert result.code == code, (result.out, result.err)
    assert "Traceback" not in result.out + result.err
    lines = [line for line in result.err.splitlines() if line.strip()]
    assert len(lines) == 1, result.err
    for needle in needles:
        assert needle in lines[0], lines[0]


@pytest.fixture
def noted(tmp_path):
    """A SQLite project with shop.0001 deployed and shop.0002_note on disk, not applied."""
    name = str(tmp_path / "db.sqlite3")
    project = DeployProject(tmp_path / "p", {"ENGINE": "django.db.backends.sqlite3", "NAME": name})
    assert project.deploy().code == 0
    project.migration("0002_note", ADD_NOTE)
    project.models(NOTE_FIELDS)
    return project, name


def shop_applied(name):
    return [key for key in applied("sqlite", None, name) if key[0] == "shop"]


@pytest.fixture
def bare(tmp_path):
    """A SQLite project with nothing deployed (bad flags are refused before the database is opened)."""
    name = str(tmp_path / "db.sqlite3")
    return DeployProject(tmp_path / "p", {"ENGINE": "django.db.backends.sqlite3", "NAME": name}), name


@pytest.mark.parametrize(("command", "flag"), [
    ("deploy", "--lock-timeout"), ("deploy", "--statement-timeout"), ("deploy", "--wait"),
    ("deploy", "--retry-delay"), ("rollback", "--lock-wait-budget"), ("rollback", "--blocker-wait"),
])
def test_negative_duration_is_refused_in_one_line(bare, command, flag):
    project, name = bare

    one_line(project.run(command, "--no-backup", f"{flag}=-1s"), 2,
             f"Bad duration '-1s': it cannot be negative (in {flag})")
    assert query("sqlite", None, name, "SELECT name FROM sqlite_master WHERE type = 'table'") == []


@pytest.mark.parametrize("command", ["deploy", "rollback"])
def test_negative_retries_are_refused_in_one_line(bare, command):
    project, name = bare

    one_line(project.run(command, "--no-backup", "--retries", "-1"), 2, "Bad --retries -1: give 0 or more")
    assert query("sqlite", None, name, "SELECT name FROM sqlite_master WHERE type = 'table'") == []


def test_zero_lock_timeout_means_no_limit_and_says_so(noted):
    """Zero is not an error: it is PostgreSQL's and MySQL's 'no limit', shown in the banner with a warning."""
    project, _ = noted

    result = project.deploy("--dry-run", "--lock-timeout", "0", "--statement-timeout", "0s", "--retries", "0")

    assert result.code == 0, result.out + result.err
    assert "lock timeout no limit, statement timeout no limit, 0 retries on lock timeout" in result.out
    assert "Warning: no lock timeout: a blocked ALTER can queue all traffic behind it." in result.out


@pytest.mark.parametrize("args", [("deploy", "--no-backup", "--target", "shop", "000"),
                                  ("rollback", "--no-backup", "--to", "shop", "000"),
                                  ("plan", "--target", "shop", "000")], ids=["deploy", "rollback", "plan"])
def test_ambiguous_target_prefix_names_the_migrations_it_matches(noted, args):
    project, name = noted

    one_line(project.run(*args), 2, "Ambiguous migration target shop 000: 2 migrations start with it"
                                    " (0001_initial, 0002_note). Give more of the name.")
    assert shop_applied(name) == [("shop", "0001_initial")]


def test_unique_target_prefix_is_accepted_as_migrate_accepts_it(noted):
    project, name = noted

    result = project.deploy("--target", "shop", "0002")

    assert result.code == 0, result.out + result.err
    assert shop_applied(name) == [("shop", "0001_initial"), ("shop", "0002_note")]


def test_rollback_app_zero_with_data_needs_consent_then_empties_the_app(noted):
    """`rollback --to APP zero` drops the app's tables: with rows in them it is a data loss (E2)."""
    project, name = noted
    query("sqlite", None, name, "INSERT INTO shop_invoice (number, amount) VALUES ('keep', 7)")

    refused = project.run("rollback", "--no-backup", "--to", "shop", "zero")
    still = shop_applied(name)
    accepted = project.run("rollback", "--no-backup", "--to", "shop", "zero", "--accept-data-loss")

    assert refused.code != 0, refused.out + refused.err
    assert "Traceback" not in refused.out + refused.err
    assert "--accept-data-loss" in refused.out + refused.err
    assert still == [("shop", "0001_initial")]
    assert accepted.code == 0, accepted.out + accepted.err
    assert shop_applied(name) == []
    tables = query("sqlite", None, name, "SELECT name FROM sqlite_master WHERE name = 'shop_invoice'")
    assert tables == []


def test_unknown_engine_is_one_line(tmp_path):
    project = DeployProject(tmp_path / "p", {"ENGINE": "nosuch.backend", "NAME": "x"})

    one_line(project.deploy(), 2, "'nosuch.backend' isn't an available database backend")


def test_sqlite_path_that_is_a_directory_is_one_line(tmp_path):
    directory = tmp_path / "data"
    directory.mkdir()
    project = DeployProject(tmp_path / "p", {"ENGINE": "django.db.backends.sqlite3", "NAME": str(directory)})

    one_line(project.deploy(), 2, f"Cannot connect to database alias 'default' at {directory}")
    assert list(directory.iterdir()) == []


NOT_UTF8 = b'from django.db import migrations\nLABEL = "caf\xe9"\n'


def test_migration_file_that_is_not_utf8_is_refused_naming_the_file(noted):
    project, name = noted
    path = project.root / "shop" / "migrations" / "0002_note.py"
    path.write_bytes(NOT_UTF8 + path.read_bytes().split(b"\n", 1)[1])

    deploy, plan = project.deploy(), project.run("plan")

    assert deploy.code == 1, deploy.out + deploy.err
    assert f"Refused: Syntax error in {path}:2: (unicode error) 'utf-8' codec can't decode byte 0xe9" in deploy.out
    assert "Traceback" not in deploy.out + deploy.err
    one_line(plan, 2, f"Syntax error in {path}:2")
    assert shop_applied(name) == [("shop", "0001_initial")]


def test_migration_file_with_a_bom_is_read_as_utf8(noted):
    """A UTF-8 byte order mark is valid Python source: the migration deploys like any other."""
    project, name = noted
    path = project.root / "shop" / "migrations" / "0002_note.py"
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())

    result = project.deploy()

    assert result.code == 0, result.out + result.err
    assert shop_applied(name) == [("shop", "0001_initial"), ("shop", "0002_note")]
