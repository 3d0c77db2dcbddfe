"""S1, S12: a database password never appears in anything any command writes, on success or failure.

One sentinel password (with characters that URL-encode) is set in DATABASES;
every command runs at the highest verbosity, with --traceback, in text and
JSON, through success and failure paths; then everything it wrote is swept:
stdout, stderr, every file under the project (backups, manifests, metrics,
caches) and every row of the tool's history tables. The password and its
URL-encoded form must be in none of them.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import replace
from urllib.parse import quote

import pytest

from tests.databases import admin_connection, scratch_database
from tests.pipeline.project import ADD_NOTE, FAILING, NOTE_FIELDS, DeployProject, database_settings

SENTINEL = "Sw33p:S3nt1nel@p/w%d"
FORMS = (SENTINEL, quote(SENTINEL, safe=""), quote(SENTINEL))


def _sweep(project, outputs, server, name):
    """Every place a secret could leak to, as one text."""
    text = "\n".join(outputs)
    for path in project.root.rglob("*"):
        if path.is_file() and path.suffix != ".py":
            text += path.read_bytes().decode("latin-1")
    with admin_connection(server, name) as conn:
        cursor = conn.cursor()
        if server.vendor == "postgresql":
            cursor.execute("SELECT tablename FROM pg_tables WHERE tablename LIKE 'migration_pilot%%'")
        else:
            cursor.execute("SHOW TABLES LIKE 'migration_pilot%%'")
        for (table,) in cursor.fetchall():
            cursor.execute(f"SELECT * FROM {table}")
            text += repr(cursor.fetchall())
        cursor.close()
    return text


def _run_everything(project):
    """Each command, success and failure paths, loudest settings; returns every stdout and stderr."""
    outputs = []

    def run(*args):
        result = project.run(*args)
        outputs.extend([result.out, result.err])
        return result

    project.migration("0002_note", ADD_NOTE)
    project.models(NOTE_FIELDS)
    metrics = str(project.root / "metrics.prom")
    run("lint", "--format", "json")
    run("plan", "-v", "3", "--traceback")
    run("plan", "--format", "json")
    deployed = run("-v", "3", "--traceback", "deploy", "--metrics-file", metrics, "--format", "json")
    assert deployed.code == 0, deployed.out + deployed.err
    run("verify", "--format", "json")
    run("history", "--format", "json")
    backups = run("backups", "--format", "json")
    project.migration("0003_fails", FAILING)
    failed = run("-v", "3", "--traceback", "deploy", "--metrics-file", metrics)
    assert failed.code == 3, failed.out + failed.err
    (project.root / "shop" / "migrations" / "0003_fails.py").unlink()
    run("-v", "3", "--traceback", "rollback", "--accept-data-loss")
    ids = [b["id"] for b in json.loads(backups.out)] if backups.code == 0 and backups.out.strip() else []
    if ids:
        run("-v", "3", "--traceback", "restore", ids[0], "--yes", "--discard-writes")
    return outputs


def test_no_password_anywhere_on_postgresql(postgresql_server, tmp_path, scratch_db_access):
    with scratch_database(postgresql_server, "pilot_sweep") as name:
        # Trust authentication here: the password is configured (and handled) but not needed to log in.
        project = DeployProject(tmp_path / "project",
                                database_settings("postgresql", postgresql_server, name) | {"PASSWORD": SENTINEL})
        outputs = _run_everything(project)
        unreachable = DeployProject(tmp_path / "down", database_settings("postgresql", postgresql_server, name)
                                    | {"PASSWORD": SENTINEL, "PORT": "1"})
        down = unreachable.run("-v", "3", "deploy")
        traced = unreachable.run("-v", "3", "--traceback", "deploy")
        text = _sweep(project, [*outputs, down.out, down.err, traced.out, traced.err], postgresql_server, name)

    assert down.code == 2 and "Cannot connect" in down.out + down.err
    assert "Traceback" in traced.err
    assert [form for form in FORMS if form in text] == []


def test_no_password_anywhere_on_mariadb(mysql_server, tmp_path, scratch_db_access):
    user = f"pilot_sweep_{uuid.uuid4().hex[:6]}"
    with scratch_database(mysql_server, "pilot_sweep") as name:
        with admin_connection(mysql_server) as conn:
            cursor = conn.cursor()
            cursor.execute(f"CREATE USER '{user}'@'%%' IDENTIFIED BY %s", [SENTINEL])
            cursor.execute(f"GRANT ALL ON `{name}`.* TO '{user}'@'%'")
            cursor.execute(f"GRANT RELOAD, PROCESS, SELECT ON *.* TO '{user}'@'%'")
            cursor.close()
        try:
            server = replace(mysql_server, user=user, password=SENTINEL)
            project = DeployProject(tmp_path / "project", database_settings("mysql", server, name))
            outputs = _run_everything(project)
            text = _sweep(project, outputs, mysql_server, name)
        finally:
            with admin_connection(mysql_server) as conn:
                cursor = conn.cursor()
                cursor.execute(f"DROP USER IF EXISTS '{user}'@'%'")
                cursor.close()

    assert [form for form in FORMS if form in text] == []


@pytest.mark.parametrize("form", FORMS)
def test_the_sweep_would_see_a_leak(form, tmp_path):
    """The sweep is not vacuous: a password written to a file under the project is found."""
    (tmp_path / "leak.log").write_text(f"connecting with {form}")
    text = "".join(p.read_text() for p in tmp_path.rglob("*.log"))

    assert any(f in text for f in FORMS)
