"""The multi-database form: one database per tenant (DATABASES aliases), on MariaDB, resumable."""

from __future__ import annotations

import contextlib
import json

import pytest

from tests.databases import admin_connection, scratch_database
from tests.pipeline.project import ADD_NOTE, NOTE_FIELDS, DeployProject

ALIASES = ["default", "t1", "t2"]


@pytest.fixture
def mysql_fleet(mysql_server, tmp_path, scratch_db_access):
    """(project, {alias: database name}): three MariaDB databases, each deployed to shop.0001."""
    yield from _fleet(mysql_server, tmp_path)


@pytest.fixture(params=["mysql", "postgresql"])
def any_fleet(request, tmp_path, scratch_db_access):
    """mysql_fleet on MariaDB, then the same three databases on PostgreSQL."""
    yield from _fleet(request.getfixturevalue(f"{request.param}_server"), tmp_path)


def _fleet(mysql_server, tmp_path):
    with contextlib.ExitStack() as stack:
        names = {alias: stack.enter_context(scratch_database(mysql_server, "pilot_fleet")) for alias in ALIASES}
        project = DeployProject(tmp_path / "project", mysql_server.django_settings(names["default"]))
        databases = {alias: mysql_server.django_settings(name) for alias, name in names.items()}
        project.use_databases(databases)
        for alias in ALIASES:
            assert project.deploy("--database", alias).code == 0
        project.models(NOTE_FIELDS)
        project.migration("0002_note", ADD_NOTE)
        yield project, mysql_server, names


def _note_types(server, database):
    with admin_connection(server, database) as conn:
        cursor = conn.cursor()
        cursor.execute("SELECT data_type FROM information_schema.columns WHERE table_schema = %s"
                       " AND table_name = 'shop_invoice' AND column_name = 'note'",
                       [database if server.vendor == "mysql" else "public"])
        return [row[0] for row in cursor.fetchall()]


def _has_note(server, database):
    return len(_note_types(server, database)) == 1


def test_every_database_is_migrated_and_all_or_nothing_is_refused(mysql_fleet):
    project, server, names = mysql_fleet

    atomic = project.run("deploy", "--fleet", "--database", "all", "--atomic-fleet")
    result = project.run("deploy", "--fleet", "--database", "all", "--no-backup")

    assert atomic.code == 2
    assert "DDL commits on its own on MySQL/MariaDB" in atomic.err
    assert result.code == 0, result.out + result.err
    assert "Fleet: 3 tenant(s) from databases." in result.out
    assert "Deployed: 3 tenant(s) migrated" in result.out
    assert all(_has_note(server, name) for name in names.values())


def test_failed_database_is_recorded_and_resume_finishes(mysql_fleet):
    project, server, names = mysql_fleet
    with admin_connection(server, names["t1"]) as conn:
        conn.cursor().execute("ALTER TABLE shop_invoice ADD COLUMN note integer")

    failed = project.run("deploy", "--fleet", "--database", "default,t1,t2", "--on-failure", "stop")

    assert failed.code == 4, failed.out + failed.err
    assert "failed t1: (1060, \"Duplicate column name 'note'\")" in failed.out
    runs = json.loads(project.run("history", "--fleet", "--format", "json").out)
    assert {t["tenant"]: t["outcome"] for t in runs[0]["tenants"]} == {
        "default": "migrated", "t1": "failed", "t2": "not_attempted"}
    with admin_connection(server, names["t1"]) as conn:
        conn.cursor().execute("ALTER TABLE shop_invoice DROP COLUMN note")

    resumed = project.run("deploy", "--fleet", "--database", "default,t1,t2", "--resume")

    assert resumed.code == 0, resumed.out + resumed.err
    assert "Deployed: 2 tenant(s) migrated" in resumed.out
    assert all(_has_note(server, name) for name in names.values())


def test_rollback_unapplies_every_database_each_backed_up_first(mysql_fleet):
    project, server, names = mysql_fleet
    deployed = project.run("deploy", "--fleet", "--database", "all")
    assert deployed.code == 0, deployed.out + deployed.err

    refused = project.run("rollback", "--fleet")

    assert all(f"Backing up database {alias} before applying..." in deployed.out for alias in ALIASES)
    assert refused.code == 1, refused.out + refused.err
    assert "Refused: rolling back fleet deploy" in refused.out
    assert all(_has_note(server, name) for name in names.values())

    result = project.run("rollback", "--fleet", "--accept-data-loss")

    assert result.code == 0, result.out + result.err
    assert "in 3 tenant(s)." in result.out
    assert not any(_has_note(server, name) for name in names.values())


def test_a_failure_in_one_database_rolls_back_the_ones_this_run_migrated(any_fleet):
    """Catalogue J1: alias 2 fails, alias 1 goes back too (each database's own reverses; DDL cannot be atomic)."""
    project, server, names = any_fleet
    with admin_connection(server, names["t1"]) as conn:
        conn.cursor().execute("ALTER TABLE shop_invoice ADD COLUMN note integer")

    failed = project.run("deploy", "--fleet", "--database", "default,t1,t2", "--jobs", "1")

    assert failed.code == 3, failed.out + failed.err
    assert "rolled back the database(s) this run had migrated (default)" in failed.out
    assert not _has_note(server, names["default"]) and not _has_note(server, names["t2"])
    assert _note_types(server, names["t1"]) in (["int"], ["integer"])  # the hand-made column is left alone
    runs = json.loads(project.run("history", "--fleet", "--format", "json").out)
    assert [(r["kind"], r["outcome"]) for r in runs[:2]] == [("rollback", "succeeded"), ("deploy", "rolled_back")]
