"""The deploy pipeline's backup stage and restore-on-failure, through this package."""

from __future__ import annotations

import json

import pytest

from tests.databases import scratch_database
from tests.pipeline.inspect_db import applied, query, schema_dump
from tests.pipeline.project import ADD_NOTE, FAILING, DeployProject, database_settings

APP_WRITES = '''
from django.db import connections, migrations


def app_writes(apps, schema_editor):
    """Another session (the application) writes while the deploy runs."""
    other = connections.create_connection(schema_editor.connection.alias)
    try:
        with other.cursor() as cursor:
            cursor.execute("INSERT INTO shop_invoice (number, amount) VALUES ('written by the app', 1)")
            if other.vendor == "postgresql":  # its statistics are in (a busy session flushes them every second)
                cursor.execute("SELECT pg_stat_force_next_flush()")
                cursor.execute("SELECT 1")
    finally:
        other.close()


class Migration(migrations.Migration):
    dependencies = [("shop", "0002_note")]
    operations = [migrations.RunPython(app_writes, migrations.RunPython.noop)]
'''


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

    # MySQL counts writes per server: the other Django leg's writes would make the check "cannot tell" and refuse
    # (that refusal is tested below); here the restore itself is under test.
    consent = ["--discard-writes"] if vendor == "mysql" else []
    result = project.run("deploy", "--on-failure", "restore", "--retry-delay", "0.1s", "--format", "json", *consent)

    assert "Restored backup" in result.out, result.out + result.err
    assert schema_dump(vendor, server, name) == before_schema
    assert applied(vendor, server, name) == before_applied
    assert query(vendor, server, name, "SELECT number, amount FROM shop_invoice") == [("keep", 7)]
    listed = json.loads(project.run("backups", "--format", "json").out)
    assert [m["label"] for m in listed] == ["before-deploy"]


def test_restore_on_failure_refuses_to_discard_what_the_application_wrote(deployable):
    project, vendor, server, name = deployable
    assert project.deploy().code == 0
    query(vendor, server, name, "INSERT INTO shop_invoice (number, amount) VALUES ('keep', 7)")
    project.migration("0002_note", ADD_NOTE)
    project.migration("0003_app", APP_WRITES)
    project.migration("0004_broken", FAILING.replace("0002_note", "0003_app"))
    project.models("number = models.CharField(max_length=30)\n    amount = models.IntegerField(default=0)\n"
                   "    note = models.CharField(max_length=50, null=True)")

    refused = project.run("deploy", "--on-failure", "restore", "--retry-delay", "0.1s")

    assert refused.code == 4, refused.out + refused.err
    assert "Not restored: Refusing to restore backup" in refused.out + refused.err
    assert "--discard-writes" in refused.out + refused.err
    rows = sorted(query(vendor, server, name, "SELECT number FROM shop_invoice"))
    assert rows == [("keep",), ("written by the app",)]
    assert project.history()[0]["outcome"] == "failed"


def test_restore_on_failure_with_discard_writes_restores(deployable):
    project, vendor, server, name = deployable
    assert project.deploy().code == 0
    before_schema = schema_dump(vendor, server, name)
    project.migration("0002_note", ADD_NOTE)
    project.migration("0003_app", APP_WRITES)
    project.migration("0004_broken", FAILING.replace("0002_note", "0003_app"))
    project.models("number = models.CharField(max_length=30)\n    amount = models.IntegerField(default=0)\n"
                   "    note = models.CharField(max_length=50, null=True)")

    result = project.run("deploy", "--on-failure", "restore", "--discard-writes", "--retry-delay", "0.1s")

    assert result.code == 3, result.out + result.err
    assert "Restored backup" in result.out
    assert schema_dump(vendor, server, name) == before_schema
    assert query(vendor, server, name, "SELECT number FROM shop_invoice") == []
