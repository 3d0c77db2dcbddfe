"""Where the fleet's tenants come from: the setting's callable or query, --schemas, and bad settings."""

from __future__ import annotations

import json

from tests.fleet.project import FleetProject

CALLABLE = '''

def tenant_schemas():
    return ["tenant_b", "tenant_a"]


MIGRATION_PILOT["fleet"] = {"schemas": "settings.tenant_schemas"}
'''


def _plan(project, *args):
    result = project.run("plan", "--fleet", "--format", "json", *args)
    assert result.code == 0, result.err
    return json.loads(result.out)


def test_sql_setting_lists_the_schemas(fleet_project):
    fleet_project.schemas(["tenant_a", "tenant_b", "other"])

    plan = _plan(fleet_project)

    assert plan["source"] == "settings.MIGRATION_PILOT['fleet']['sql']"
    assert plan["tenants"] == 2
    assert plan["groups"][0]["tenants"] == ["tenant_a", "tenant_b"]


def test_callable_by_dotted_path_keeps_its_order(postgresql_server, tmp_path, scratch_db_access):
    from tests.databases import scratch_database

    with scratch_database(postgresql_server, "pilot_fleet") as name:
        project = FleetProject(tmp_path / "project", postgresql_server, name, extra=CALLABLE)
        project.schemas(["tenant_a", "tenant_b", "tenant_c"])

        plan = _plan(project)

    assert plan["source"] == "settings.MIGRATION_PILOT['fleet']['schemas']"
    assert plan["groups"][0]["tenants"] == ["tenant_b", "tenant_a"]


def test_schemas_flag_narrows_the_fleet(fleet_project):
    fleet_project.schemas(["tenant_a", "tenant_b"])

    plan = _plan(fleet_project, "--schemas", "tenant_b")

    assert plan["tenants"] == 1
    assert plan["groups"][0]["tenants"] == ["tenant_b"]


def test_unknown_schema_is_a_usage_error(fleet_project):
    fleet_project.schemas(["tenant_a"])

    result = fleet_project.run("deploy", "--fleet", "--schemas", "tenant_zz")

    assert result.code == 2
    assert "Not tenant schemas of the fleet: tenant_zz (in --schemas)." in result.err
    assert "Traceback" not in result.err


def test_failing_query_is_a_usage_error(postgresql_server, tmp_path, scratch_db_access):
    from tests.databases import scratch_database

    with scratch_database(postgresql_server, "pilot_fleet") as name:
        project = FleetProject(tmp_path / "project", postgresql_server, name,
                               extra='\nMIGRATION_PILOT["fleet"] = {"sql": "SELECT nope FROM nowhere"}\n')

        result = project.run("deploy", "--fleet")

    assert result.code == 2
    assert "The query failed: relation \"nowhere\" does not exist (in settings.MIGRATION_PILOT['fleet']['sql'])." \
        in result.err
