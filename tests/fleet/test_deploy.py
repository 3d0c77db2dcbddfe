"""pilot deploy --fleet on real PostgreSQL schemas (a scratch database per test, a few tenant schemas)."""

from __future__ import annotations

import json
import signal

from tests.fleet.project import ADD_INDEX, RUN_PYTHON
from tests.pipeline.project import wait_until

# This database's prepared transactions only: the other Django leg runs fleets on the same server.
PREPARED = ("SELECT count(*) FROM pg_prepared_xacts WHERE database = current_database()"
            " AND gid LIKE 'pilot-fleet-%'")

TENANTS = ["tenant_a", "tenant_b", "tenant_c", "tenant_d", "tenant_e"]


def _at_0001(project, schemas=TENANTS):
    project.schemas(schemas)
    result = project.fleet()
    assert result.code == 0, result.out + result.err
    project.add_note()


def _applied(project, schema):
    return {tuple(row) for row in project.sql(f'SELECT app, name FROM "{schema}".django_migrations')}


def _columns(project, schema, table="shop_invoice"):
    return {row[0] for row in project.sql("SELECT column_name FROM information_schema.columns"
                                          " WHERE table_schema = %s AND table_name = %s", [schema, table])}


def test_deploy_applies_to_every_schema_as_plain_migrate_would(fleet_project):
    _at_0001(fleet_project)
    fleet_project.migration("0003_note_index", ADD_INDEX)
    fleet_project.schemas(["reference"], history=False)

    result = fleet_project.fleet("--jobs", "2", "--fail-on", "never")

    assert result.code == 0, result.out + result.err
    assert "Deployed: 5 tenant(s) migrated, 0 already at the target." in result.out
    fleet_project.plain_migrate("reference")
    reference = fleet_project.catalog("reference")
    assert ("shop_invoice", "invoice_note_idx") in {row[:2] for row in reference["indexes"]}
    for schema in TENANTS:
        assert fleet_project.catalog(schema) == reference, schema


def test_lint_gate_judges_each_group_once_and_refuses(fleet_project):
    _at_0001(fleet_project, ["tenant_a", "tenant_b"])
    fleet_project.migration("0003_note_index", ADD_INDEX)

    result = fleet_project.fleet()

    assert result.code == 1
    assert result.out.count("add-index-non-concurrent [error] shop.0003_note_index") == 1
    assert "Refused: 1 lint finding(s) at or above --fail-on in the plan of 2 tenant(s)" in result.out
    assert "note" not in _columns(fleet_project, "tenant_a")


def test_plan_groups_tenants_by_applied_set_and_skips_those_at_head(fleet_project):
    _at_0001(fleet_project, ["tenant_a", "tenant_b", "tenant_c"])
    fleet_project.fleet("--schemas", "tenant_a")
    fleet_project.migration("0003_note_index", ADD_INDEX)
    fleet_project.fleet("--schemas", "tenant_a", "--fail-on", "never")  # tenant_a at head, b and c two behind
    fleet_project.schemas(["tenant_d"])  # an empty history: everything pending

    result = fleet_project.run("plan", "--fleet", "--format", "json")

    assert result.code == 0, result.err
    plan = json.loads(result.out)
    assert plan["at_head"] == ["tenant_a"]
    groups = {tuple(g["tenants"]): g for g in plan["groups"]}
    assert set(groups) == {("tenant_b", "tenant_c"), ("tenant_d",)}
    assert groups[("tenant_b", "tenant_c")]["migrations"] == [["shop", "0002_note"], ["shop", "0003_note_index"]]
    assert any('ADD COLUMN "note"' in s for s in groups[("tenant_b", "tenant_c")]["sql"])
    assert not any("tenant_" in s for s in groups[("tenant_b", "tenant_c")]["sql"])  # table names unqualified


def test_nothing_to_do_records_no_run(fleet_project):
    _at_0001(fleet_project, ["tenant_a", "tenant_b"])
    assert fleet_project.fleet().code == 0

    result = fleet_project.fleet()

    assert result.code == 0
    assert "Nothing to deploy: 2 tenant(s) at the target." in result.out
    assert len(json.loads(fleet_project.run("history", "--fleet", "--format", "json").out)) == 2


def test_zero_tenants(fleet_project):
    result = fleet_project.fleet()

    assert result.code == 0, result.err
    assert "Nothing to deploy: the fleet has no tenants." in result.out


def test_atomic_fleet_with_one_failing_tenant_changes_no_schema(fleet_project):
    _at_0001(fleet_project)
    fleet_project.sql('ALTER TABLE "tenant_c".shop_invoice ADD COLUMN note integer')  # made by hand
    before = {schema: fleet_project.catalog(schema) for schema in TENANTS}

    result = fleet_project.fleet("--atomic-fleet", "--jobs", "2")

    assert result.code == 3, result.out + result.err
    assert "tenant_c: column \"note\" of relation \"shop_invoice\" already exists" in result.out
    assert "no tenant was changed" in result.out
    assert {schema: fleet_project.catalog(schema) for schema in TENANTS} == before
    assert fleet_project.sql(PREPARED) == [(0,)]


def test_atomic_fleet_commits_every_schema(fleet_project):
    _at_0001(fleet_project)

    result = fleet_project.fleet("--atomic-fleet", "--jobs", "2")

    assert result.code == 0, result.out + result.err
    assert "All or nothing: up to 5 tenant(s) prepared at once" in result.out
    assert all("note" in _columns(fleet_project, schema) for schema in TENANTS)
    assert fleet_project.sql(PREPARED) == [(0,)]


def test_atomic_window_bounds_prepared_transactions(fleet_project):
    _at_0001(fleet_project)

    result = fleet_project.fleet("--atomic-fleet", "--atomic-window", "2", "--jobs", "2")

    assert result.code == 0, result.out + result.err
    assert "All or nothing: up to 2 tenant(s) prepared at once (5 pending" in result.out
    assert all("note" in _columns(fleet_project, schema) for schema in TENANTS)


def test_failure_is_recorded_per_tenant_and_resume_finishes(fleet_project):
    _at_0001(fleet_project)
    fleet_project.sql('ALTER TABLE "tenant_c".shop_invoice ADD COLUMN note integer')

    failed = fleet_project.fleet("--jobs", "1")

    assert failed.code == 4, failed.out + failed.err
    assert "failed tenant_c: column \"note\" of relation \"shop_invoice\" already exists" in failed.out
    runs = json.loads(fleet_project.run("history", "--fleet", "--format", "json").out)
    outcomes = {t["tenant"]: t["outcome"] for t in runs[0]["tenants"]}
    assert outcomes == {"tenant_a": "migrated", "tenant_b": "migrated", "tenant_c": "failed",
                        "tenant_d": "not_attempted", "tenant_e": "not_attempted"}
    assert "note" not in _columns(fleet_project, "tenant_d")
    fleet_project.sql('ALTER TABLE "tenant_c".shop_invoice DROP COLUMN note')

    resumed = fleet_project.fleet("--resume")

    assert resumed.code == 0, resumed.out + resumed.err
    assert "3 tenant(s) not done" in resumed.out
    assert "Deployed: 3 tenant(s) migrated" in resumed.out
    assert all(("shop", "0002_note") in _applied(fleet_project, schema) for schema in TENANTS)
    history = fleet_project.run("history", "--fleet")
    assert "failed tenant_c: column \"note\"" in history.out
    assert "3 migrated" in history.out


def test_keep_going_migrates_the_others(fleet_project):
    _at_0001(fleet_project)
    fleet_project.sql('ALTER TABLE "tenant_a".shop_invoice ADD COLUMN note integer')

    result = fleet_project.fleet("--jobs", "1", "--keep-going")

    assert result.code == 4
    assert "4 migrated, 0 not attempted" in result.out
    assert "note" in _columns(fleet_project, "tenant_e")


def test_schema_without_history_table_is_reported_and_left_alone(fleet_project):
    _at_0001(fleet_project, ["tenant_a", "tenant_b"])
    fleet_project.schemas(["tenant_x"], history=False)

    result = fleet_project.fleet()

    assert result.code == 1, result.out + result.err
    assert "tenant_x: no django_migrations table; left alone" in result.out
    assert "Deployed: 2 tenant(s) migrated" in result.out
    assert fleet_project.sql("SELECT count(*) FROM pg_tables WHERE schemaname = 'tenant_x'") == [(0,)]


def test_diverged_schema_is_reported(fleet_project):
    _at_0001(fleet_project, ["tenant_a", "tenant_b"])
    fleet_project.sql("INSERT INTO tenant_b.django_migrations (app, name, applied) VALUES ('shop', '0099_future', now())")

    result = fleet_project.fleet()

    assert result.code == 1
    assert "tenant_b: applied migrations not on disk (shop.0099_future); left alone." in result.out
    assert "note" in _columns(fleet_project, "tenant_a")
    assert "note" not in _columns(fleet_project, "tenant_b")


def test_lock_timeout_on_one_busy_tenant(fleet_project):
    _at_0001(fleet_project, ["tenant_a", "tenant_b", "tenant_c"])
    from tests.databases import admin_connection

    with admin_connection(fleet_project.server, fleet_project.name) as holder:
        holder.execute("BEGIN")
        holder.execute("LOCK TABLE tenant_b.shop_invoice IN ACCESS SHARE MODE")
        result = fleet_project.fleet("--jobs", "1", "--keep-going", "--lock-timeout", "50ms",
                                     "--lock-wait-budget", "0.5s")
        holder.execute("ROLLBACK")

    assert result.code == 4, result.out + result.err
    assert "failed tenant_b: canceling statement due to lock timeout" in result.out
    assert "note" in _columns(fleet_project, "tenant_c")


def test_run_python_takes_the_executor_path(fleet_project):
    _at_0001(fleet_project, ["tenant_a", "tenant_b"])
    fleet_project.fleet()
    fleet_project.migration("0003_fill", RUN_PYTHON)

    atomic = fleet_project.fleet("--atomic-fleet")
    result = fleet_project.fleet()

    assert atomic.code == 1
    assert "--atomic-fleet cannot include 2 tenant(s) whose plan runs Python" in atomic.out
    assert result.code == 0, result.out + result.err
    assert "2 tenant(s) run Python or non-atomic migrations: Django's executor" in result.out
    for schema in ["tenant_a", "tenant_b"]:
        assert fleet_project.sql(f'SELECT number FROM "{schema}".shop_invoice') == [("from-python",)]
        assert ("shop", "0003_fill") in _applied(fleet_project, schema)
    assert fleet_project.sql("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
                             " AND tablename = 'shop_invoice'") == [(0,)]


def test_orphaned_prepared_transactions_of_a_killed_run_are_rolled_back(fleet_project):
    _at_0001(fleet_project, ["tenant_a", "tenant_b", "tenant_c"])
    fleet_project.migration("0003_slow", '''
        from django.db import migrations


        class Migration(migrations.Migration):
            dependencies = [("shop", "0002_note")]
            operations = [migrations.RunSQL("SELECT pg_sleep(CASE WHEN current_schema() = 'tenant_b' THEN 2 ELSE 0 END)",
                                            migrations.RunSQL.noop)]
    ''')
    process = fleet_project.start("deploy", "--fleet", "--atomic-fleet", "--jobs", "1")
    wait_until(lambda: fleet_project.sql(PREPARED)
               == [(1,)], timeout=60)
    process.send_signal(signal.SIGKILL)
    process.communicate()
    # The server finishes the statement it was sent (tenant_b's whole transaction is one message), then notices.
    wait_until(lambda: fleet_project.sql("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                                         " AND query LIKE '%%pg_sleep%%' AND pid <> pg_backend_pid()") == [(0,)],
               timeout=30)
    orphans = fleet_project.sql(PREPARED)[0][0]
    assert "note" not in _columns(fleet_project, "tenant_a")  # prepared, not committed

    result = fleet_project.fleet("--jobs", "1")

    assert result.code == 0, result.out + result.err
    assert orphans in {1, 2}
    assert f"Rolled back {orphans} prepared transaction(s) left by interrupted fleet deploy" in result.out
    assert "Deployed: 3 tenant(s) migrated" in result.out
    assert fleet_project.sql(PREPARED) == [(0,)]


def test_orphans_of_a_run_that_had_decided_to_commit_are_committed(fleet_project):
    _at_0001(fleet_project, ["tenant_a", "tenant_b"])
    run_id = fleet_project.sql(
        "INSERT INTO migration_pilot_deployrun (kind, outcome, started_at, \"user\", host, pid, alias, plan,"
        " backup_id, error, options) VALUES ('deploy', 'running', now(), 'u', 'h', 1, 'default', '[]', '', '',"
        " '{\"fleet\": true, \"fleet_decision\": \"commit\"}') RETURNING id")[0][0]
    from tests.databases import admin_connection

    with admin_connection(fleet_project.server, fleet_project.name) as conn:  # what the killed run had prepared
        conn.execute("BEGIN")
        conn.execute("SET LOCAL search_path TO tenant_a")
        conn.execute("ALTER TABLE shop_invoice ADD COLUMN note varchar(50) NULL")
        conn.execute("INSERT INTO django_migrations (app, name, applied) VALUES ('shop', '0002_note', now())")
        conn.execute(f"PREPARE TRANSACTION 'pilot-fleet-{run_id}:tenant_a'")

    result = fleet_project.fleet()

    assert result.code == 0, result.out + result.err
    assert f"Committed 1 prepared transaction(s) left by interrupted fleet deploy #{run_id}" in result.out
    assert "Deployed: 1 tenant(s) migrated, 1 already at the target." in result.out
