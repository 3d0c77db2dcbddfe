"""The fleet deploy's pre-deploy backup: one dump of the database for the whole run, recorded on the run."""

from __future__ import annotations

import json
import subprocess

from tests.fleet.test_deploy import _at_0001, _columns

SCHEMAS = ["tenant_a", "tenant_b", "tenant_c"]


def _archives(project):
    return sorted(path for path in (project.root / "backups").rglob("*") if path.is_file()
                  and path.suffix not in {".json"} and not path.name.startswith("."))


def test_one_backup_for_the_fleet_holding_every_tenant_schema(fleet_project):
    _at_0001(fleet_project, SCHEMAS)
    before = set(_archives(fleet_project))

    result = fleet_project.run("deploy", "--fleet", "--format", "json")

    assert result.code == 0, result.out + result.err
    out = json.loads(result.out)
    backup_id = out["backup_id"]
    assert backup_id
    assert next(e["message"] for e in out["events"] if e["kind"] == "backup_finished").startswith(
        f"Backup {backup_id} taken (")
    new = [path for path in _archives(fleet_project) if path not in before]
    assert len(new) == 1, new  # once per run, not per tenant
    listing = subprocess.run(["pg_restore", "--list", str(new[0])], capture_output=True, text=True,
                             check=True).stdout
    for schema in SCHEMAS:
        assert f"TABLE DATA {schema} shop_invoice" in listing
    assert fleet_project.sql("SELECT backup_id FROM migration_pilot_deployrun WHERE id = %s",
                             [out["run_id"]]) == [(backup_id,)]
    assert backup_id in fleet_project.run("backups", "--format", "json").out


def test_no_backup_skips_it_and_a_no_op_takes_none(fleet_project):
    _at_0001(fleet_project, SCHEMAS)
    before = set(_archives(fleet_project))

    skipped = fleet_project.fleet("--no-backup")
    noop = fleet_project.fleet()

    assert skipped.code == 0, skipped.out + skipped.err
    assert "No pre-deploy backup (--no-backup)." in skipped.out
    assert all("note" in _columns(fleet_project, schema) for schema in SCHEMAS)
    assert noop.code == 0 and "Nothing to deploy" in noop.out
    assert "Backing up" not in noop.out
    assert set(_archives(fleet_project)) == before


def test_failed_backup_changes_no_tenant(fleet_project):
    _at_0001(fleet_project, SCHEMAS)
    blocked = fleet_project.root / "not-a-directory"
    blocked.write_text("")

    result = fleet_project.fleet("--backup-dir", str(blocked))

    assert result.code == 2, result.out + result.err
    assert "Backup failed, no tenant was changed:" in result.out
    assert all("note" not in _columns(fleet_project, schema) for schema in SCHEMAS)
