"""A fleet of databases (DATABASES aliases) gets one pre-deploy backup per database, recorded once on the run.

On MariaDB and on PostgreSQL, two aliases each: the run's options name every
backup by alias, each archive holds its own database, the tenant records carry
none, and a backup that cannot be written changes no database.
"""

from __future__ import annotations

import contextlib
import json

import pytest

from tests.databases import admin_connection, scratch_database
from tests.pipeline.project import ADD_NOTE, NOTE_FIELDS, DeployProject

ALIASES = ["default", "t1"]


@pytest.fixture(params=["postgresql", "mysql"])
def two_databases(request, tmp_path, scratch_db_access):
    """(project, server, {alias: database}): two databases of one server, each deployed to shop.0001."""
    server = request.getfixturevalue(f"{request.param}_server")
    with contextlib.ExitStack() as stack:
        names = {alias: stack.enter_context(scratch_database(server, "pilot_fleet")) for alias in ALIASES}
        project = DeployProject(tmp_path / "project", server.django_settings(names["default"]))
        databases = {alias: server.django_settings(name) for alias, name in names.items()}
        project.use_databases(databases)
        for alias in ALIASES:
            assert project.deploy("--database", alias, "--no-backup").code == 0
        project.models(NOTE_FIELDS)
        project.migration("0002_note", ADD_NOTE)
        yield project, server, names


def _has_note(server, database):
    with admin_connection(server, database) as conn:
        cursor = conn.cursor()
        schema = "public" if server.vendor == "postgresql" else database
        cursor.execute("SELECT count(*) FROM information_schema.columns WHERE table_schema = %s"
                       " AND table_name = 'shop_invoice' AND column_name = 'note'", [schema])
        return cursor.fetchone()[0] == 1


def test_one_backup_per_database_recorded_once_on_the_run(two_databases):
    project, server, names = two_databases

    result = project.run("deploy", "--fleet", "--database", "all", "--format", "json")

    assert result.code == 0, result.out + result.err
    out = json.loads(result.out)
    assert set(out["backups"]) == set(ALIASES)
    assert out["backup_id"] == out["backups"]["default"]
    listed = {m["id"]: m for m in json.loads(project.run("backups", "--format", "json").out)}
    assert set(listed) == set(out["backups"].values())  # one per database, none per tenant
    for alias, backup_id in out["backups"].items():
        assert listed[backup_id]["alias"] == alias
        assert listed[backup_id]["database"] == names[alias]
        assert listed[backup_id]["label"] == "before-fleet-deploy"
        assert ["shop", "0002_note"] not in listed[backup_id]["applied_migrations"]
    runs = json.loads(project.run("history", "--fleet", "--format", "json").out)
    assert runs[0]["options"]["backups"] == out["backups"]
    assert all(_has_note(server, name) for name in names.values())

    refused = project.run("rollback", "--fleet")

    assert refused.code == 1, refused.out + refused.err
    assert f"'pilot restore {out['backups']['t1']} --database t1'" in refused.out


def test_a_failed_backup_changes_no_database(two_databases):
    project, server, names = two_databases
    blocked = project.root / "not-a-directory"
    blocked.write_text("")

    result = project.run("deploy", "--fleet", "--database", "all", "--backup-dir", str(blocked))

    assert result.code == 2, result.out + result.err
    assert "Backup of default failed, no tenant was changed" in result.out
    assert not any(_has_note(server, name) for name in names.values())
