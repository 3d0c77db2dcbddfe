"""The deploy pipeline's backup stage and restore-on-failure, through this package."""

from __future__ import annotations

import json

import pytest

from tests.databases import scratch_database
from tests.pipeline.inspect_db import applied, query, schema_dump
from tests.pipeline.project import ADD_NOTE, FAILING, DeployProject, database_settings


@pytest.fixture
def deployable(vendor, request, tmp_path, scratch_db_access):
    if vendor == "sqlite":
        name = str(tmp_path / "db.sqlite3")
        yield DeployProject(tmp_path / "project", database_settings(vendor, None, name)), vendor, None, name
        return
    server = request.getfixturevalue(f"{vendor}_server")
    with scratch_database(server, "pilot_bdeploy") as name:
        yield DeployProject(tmp_path / "project", database_settings(vendor, server, name)), vendor, server, name


def test_failed_deploy_is_restored_from_its_backup(deployable):
    project, vendor, server, name = deployable
    assert project.deploy().code == 0
    query(vendor, server, name, "INSERT INTO shop_invoice (number, amount) VALUES ('keep', 7)")
    before_schema = schema_dump(vendor, server, name)
    before_applied = applied(vendor, server, name)
    project.migration("0002_note", ADD_NOTE)
    project.migration("0003_broken", FAILING)
    project.models("number = models.CharField(max_length=30)\n    amount = models.IntegerField(default=0)\n"
                   "    note = models.CharField(max_length=50, null=True)")

    result = project.run("deploy", "--on-failure", "restore", "--retry-delay", "0.1s", "--format", "json")

    assert "Restored backup" in result.out, result.out + result.err
    assert schema_dump(vendor, server, name) == before_schema
    assert applied(vendor, server, name) == before_applied
    assert query(vendor, server, name, "SELECT number, amount FROM shop_invoice") == [("keep", 7)]
    listed = json.loads(project.run("backups", "--format", "json").out)
    assert [m["label"] for m in listed] == ["before-deploy"]
