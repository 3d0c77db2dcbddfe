"""The deploy's backup stage: restore after an irreversible failure, and backup problems refuse cleanly."""

from __future__ import annotations

import subprocess

import pytest

from tests.pipeline.inspect_db import applied, query, schema_dump
from tests.pipeline.project import ADD_NOTE, FAILING, IRREVERSIBLE, NOTE_FIELDS


def test_irreversible_failure_with_on_failure_restore_is_restored_and_verified(deployable):
    project, vendor, server, name = deployable
    assert project.deploy().code == 0
    query(vendor, server, name, "INSERT INTO shop_invoice (number, amount) VALUES ('keep', 7)")
    before_schema = schema_dump(vendor, server, name)
    before_applied = applied(vendor, server, name)
    project.migration("0002_note", ADD_NOTE)
    project.migration("0003_touch", IRREVERSIBLE)  # changes 'keep' to 99 and cannot be unapplied
    project.migration("0004_broken", FAILING.replace("0002_note", "0003_touch"))
    project.models(NOTE_FIELDS)

    # On MySQL this run writes shop_invoice itself, so any other session writing on the server meanwhile (the
    # other Django leg shares it) makes "did the application write there too?" unanswerable, and the restore
    # would be refused: that refusal is tested in tests/backup/test_deploy_restore.py; here the restore is.
    consent = ["--discard-writes"] if vendor == "mysql" else []
    result = project.run("deploy", "--on-failure", "restore", "--fail-on", "never", "--retry-delay", "0.1s",
                         *consent)

    assert result.code == 3, result.out + result.err
    assert "Restored backup" in result.out
    assert schema_dump(vendor, server, name) == before_schema
    assert applied(vendor, server, name) == before_applied
    assert query(vendor, server, name, "SELECT number, amount FROM shop_invoice") == [("keep", 7)]
    # The restored database is exactly what its (restored) migration history says.
    project.models("number = models.CharField(max_length=30)\n    amount = models.IntegerField(default=0)")
    for migration in ("0002_note", "0003_touch", "0004_broken"):
        (project.root / "shop" / "migrations" / f"{migration}.py").unlink()
    verified = project.run("verify")
    assert verified.code == 0, verified.out + verified.err


def shop_applied(vendor, server, name):
    """The project's applied migrations (the tool's own history tables may exist)."""
    return [key for key in applied(vendor, server, name) if key[0] == "shop"]


def run_without_tools(project, *args):
    """The deploy with a PATH that holds no database client tools."""
    env = {**project.env(), "PATH": str(project.root / "empty-bin")}
    (project.root / "empty-bin").mkdir(exist_ok=True)
    return subprocess.run(project.command(*args), cwd=project.root, env=env, capture_output=True, text=True,
                          timeout=120, check=False)


@pytest.mark.parametrize("vendor", ["postgresql", "mysql"])
def test_missing_backup_tools_refuse_the_deploy_with_the_package_to_install(deployable):
    project, vendor, server, name = deployable
    project.migration("0002_note", ADD_NOTE)
    project.models(NOTE_FIELDS)

    done = run_without_tools(project, "deploy", "--fail-on", "never")

    assert done.returncode == 2, done.stdout + done.stderr
    assert "Backup failed, nothing was changed" in done.stdout + done.stderr
    assert "install" in done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert shop_applied(vendor, server, name) == []


def test_unusable_backup_directory_refuses_the_deploy(deployable):
    project, vendor, server, name = deployable
    # A path under a regular file can be created by nobody (root included).
    blocker = project.root / "not-a-dir"
    blocker.write_text("")

    result = project.run("deploy", "--backup-dir", str(blocker / "backups"), "--fail-on", "never")

    assert result.code == 2, result.out + result.err
    assert "Backup failed, nothing was changed" in result.out + result.err
    assert "Traceback" not in result.err
    assert shop_applied(vendor, server, name) == []
