"""pilot rollback --fleet on real PostgreSQL schemas: consent for lost data, per tenant, resumable."""

from __future__ import annotations

import json

from tests.databases import admin_connection
from tests.fleet.test_deploy import PREPARED, TENANTS, _applied, _at_0001, _columns

NOTE = ("shop", "0002_note")
SHOWN = ["tenant_a", "tenant_b", "tenant_c"]


def _deployed(project, schemas=SHOWN):
    _at_0001(project, schemas)
    result = project.fleet()
    assert result.code == 0, result.out + result.err
    return json.loads(project.run("history", "--fleet", "--format", "json").out)[0]["id"]


def test_refused_without_consent_then_every_tenant_rolled_back(fleet_project):
    deploy_id = _deployed(fleet_project)
    fleet_project.sql("INSERT INTO tenant_b.shop_invoice (number, amount, note) VALUES ('1', 1, 'kept')")

    refused = fleet_project.run("rollback", "--fleet")
    done = fleet_project.run("rollback", "--fleet", "--accept-data-loss")
    again = fleet_project.run("rollback", "--fleet", "--accept-data-loss")

    assert refused.code == 1, refused.out + refused.err
    assert (f"Refused: rolling back fleet deploy #{deploy_id} loses data: shop.0002_note (AddField) drops"
            in refused.out)
    assert "(counted in tenant_a; 3 tenant(s) roll it back). Pass --accept-data-loss" in refused.out
    assert done.code == 0, done.out + done.err
    assert "Accepted data loss (--accept-data-loss)" in done.out
    assert f"Rolled back fleet deploy #{deploy_id} in 3 tenant(s)." in done.out
    for schema in SHOWN:
        assert "note" not in _columns(fleet_project, schema)
        assert NOTE not in _applied(fleet_project, schema)
        assert ("shop", "0001_initial") in _applied(fleet_project, schema)
    assert again.code == 1
    assert f"Nothing to roll back: no tenant still has a migration fleet deploy #{deploy_id} applied." in again.out


def test_refusal_changes_no_tenant(fleet_project):
    _deployed(fleet_project)

    result = fleet_project.run("rollback", "--fleet")

    assert result.code == 1
    assert all("note" in _columns(fleet_project, schema) for schema in SHOWN)


def test_failed_tenant_is_recorded_and_a_second_run_finishes(fleet_project):
    deploy_id = _deployed(fleet_project)

    with admin_connection(fleet_project.server, fleet_project.name) as holder:  # a busy tenant
        holder.execute("BEGIN")
        holder.execute("LOCK TABLE tenant_b.shop_invoice IN ACCESS SHARE MODE")
        failed = fleet_project.run("rollback", "--fleet", "--accept-data-loss", "--lock-timeout", "100ms")
        holder.execute("ROLLBACK")

    assert failed.code == 4, failed.out + failed.err
    assert "tenant_b: canceling statement due to lock timeout" in failed.out
    assert "1 rolled back, 1 not attempted" in failed.out
    assert "note" not in _columns(fleet_project, "tenant_a")
    assert "note" in _columns(fleet_project, "tenant_b") and NOTE in _applied(fleet_project, "tenant_b")
    assert "note" in _columns(fleet_project, "tenant_c")
    runs = json.loads(fleet_project.run("history", "--fleet", "--format", "json").out)
    assert runs[0]["options"]["of_run"] == deploy_id
    assert {t["tenant"]: t["outcome"] for t in runs[0]["tenants"]} == {
        "tenant_a": "rolled_back", "tenant_b": "failed", "tenant_c": "not_attempted"}

    resumed = fleet_project.run("rollback", "--fleet", "--accept-data-loss")

    assert resumed.code == 0, resumed.out + resumed.err
    assert "2 tenant(s) still have its migrations" in resumed.out
    assert f"Rolled back fleet deploy #{deploy_id} in 2 tenant(s)." in resumed.out
    assert all("note" not in _columns(fleet_project, schema) for schema in SHOWN)


def test_run_names_the_deploy_and_an_unknown_one_is_a_usage_error(fleet_project):
    first = _deployed(fleet_project, ["tenant_a"])

    unknown = fleet_project.run("rollback", "--fleet", "--run", str(first + 100))
    chosen = fleet_project.run("rollback", "--fleet", "--run", str(first), "--accept-data-loss", "--dry-run")

    assert unknown.code == 2
    assert f"No fleet deploy #{first + 100} is recorded on default" in unknown.err
    assert chosen.code == 0, chosen.out + chosen.err
    assert "Dry run: 1 tenant(s) to roll back; nothing was changed." in chosen.out
    assert "note" in _columns(fleet_project, "tenant_a")


def test_nothing_recorded(fleet_project):
    fleet_project.schemas(TENANTS[:1])

    result = fleet_project.run("rollback", "--fleet")

    assert result.code == 1
    assert "Nothing to roll back" in result.out


def test_atomic_rollback_on_two_jobs_rolls_back_every_tenant(fleet_project):
    deploy_id = _deployed(fleet_project, TENANTS)

    result = fleet_project.run("rollback", "--fleet", "--accept-data-loss", "--jobs", "2", "--atomic-fleet",
                               "--atomic-window", "3")

    assert result.code == 0, result.out + result.err
    assert "All or nothing: up to 3 tenant(s) prepared at once (5 to roll back" in result.out
    assert f"Rolled back fleet deploy #{deploy_id} in 5 tenant(s)." in result.out
    for schema in TENANTS:
        assert "note" not in _columns(fleet_project, schema)
        assert NOTE not in _applied(fleet_project, schema)
    assert fleet_project.sql(PREPARED) == [(0,)]
    runs = json.loads(fleet_project.run("history", "--fleet", "--format", "json").out)
    assert runs[0]["options"]["jobs"] == 2 and runs[0]["options"]["window"] == 3
    assert {t["outcome"] for t in runs[0]["tenants"]} == {"rolled_back"}


def test_atomic_rollback_with_one_failing_tenant_changes_no_schema(fleet_project):
    _deployed(fleet_project, TENANTS)
    before = {schema: fleet_project.catalog(schema) for schema in TENANTS}

    with admin_connection(fleet_project.server, fleet_project.name) as holder:  # one busy tenant
        holder.execute("BEGIN")
        holder.execute("LOCK TABLE tenant_d.shop_invoice IN ACCESS SHARE MODE")
        result = fleet_project.run("rollback", "--fleet", "--accept-data-loss", "--jobs", "2", "--atomic-fleet",
                                   "--lock-timeout", "100ms")
        holder.execute("ROLLBACK")

    assert result.code == 3, result.out + result.err
    assert "tenant_d: canceling statement due to lock timeout" in result.out
    assert "no tenant was changed" in result.out
    assert {schema: fleet_project.catalog(schema) for schema in TENANTS} == before
    assert fleet_project.sql(PREPARED) == [(0,)]
    runs = json.loads(fleet_project.run("history", "--fleet", "--format", "json").out)
    outcomes = {t["tenant"]: t["outcome"] for t in runs[0]["tenants"]}
    assert outcomes["tenant_d"] == "failed"
    assert set(outcomes.values()) <= {"failed", "unchanged", "not_attempted"}


def test_resume_after_a_fleet_rollback_redeploys_the_rolled_back_tenants(fleet_project):
    _deployed(fleet_project)
    assert fleet_project.run("rollback", "--fleet", "--accept-data-loss", "--jobs", "2").code == 0

    resumed = fleet_project.fleet("--resume")

    assert resumed.code == 0, resumed.out + resumed.err
    assert "0 tenant(s) not done by its record; all 3 checked against what they have applied now" in resumed.out
    assert "Deployed: 3 tenant(s) migrated, 0 already at the target." in resumed.out
    for schema in SHOWN:
        assert "note" in _columns(fleet_project, schema)
        assert NOTE in _applied(fleet_project, schema)


def test_prepared_work_of_a_killed_atomic_rollback_is_finished_by_the_next_one(fleet_project):
    deploy_id = _deployed(fleet_project, ["tenant_a", "tenant_b"])
    run_id = fleet_project.sql(
        "INSERT INTO migration_pilot_deployrun (kind, outcome, started_at, \"user\", host, pid, alias, plan,"
        " backup_id, error, options) VALUES ('rollback', 'running', now(), 'u', 'h', 1, 'default', '[]', '', '',"
        " %s) RETURNING id", [json.dumps({"fleet": True, "of_run": deploy_id, "fleet_decision": "commit"})])[0][0]
    fleet_project.sql("INSERT INTO migration_pilot_fleettenant (run_id, tenant, alias, outcome, applied, error)"
                      " VALUES (%s, 'tenant_a', 'default', 'not_attempted', '[]', '')", [run_id])
    with admin_connection(fleet_project.server, fleet_project.name) as conn:  # what the killed run had prepared
        conn.execute("BEGIN")
        conn.execute("SET LOCAL search_path TO tenant_a")
        conn.execute("ALTER TABLE shop_invoice DROP COLUMN note")
        conn.execute("DELETE FROM django_migrations WHERE app = 'shop' AND name = '0002_note'")
        conn.execute(f"PREPARE TRANSACTION 'pilot-fleet-{run_id}:tenant_a'")

    result = fleet_project.run("rollback", "--fleet", "--accept-data-loss", "--atomic-fleet")

    assert result.code == 0, result.out + result.err
    assert f"Found interrupted rollback #{run_id}: marked interrupted." in result.out
    assert f"Committed 1 prepared transaction(s) left by interrupted fleet rollback #{run_id}" in result.out
    assert f"Rolled back fleet deploy #{deploy_id} in 1 tenant(s)." in result.out
    assert all("note" not in _columns(fleet_project, schema) for schema in ["tenant_a", "tenant_b"])
    assert fleet_project.sql(PREPARED) == [(0,)]
    runs = {r["id"]: r for r in json.loads(fleet_project.run("history", "--fleet", "--format", "json").out)}
    assert runs[run_id]["outcome"] == "interrupted"
    assert {t["tenant"]: t["outcome"] for t in runs[run_id]["tenants"]} == {"tenant_a": "rolled_back"}
