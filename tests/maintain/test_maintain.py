"""`pilot maintain` on every vendor: the tables of the last deploy, ANALYZE, the report, bad input."""

from __future__ import annotations

import json

import pytest

from tests.pipeline.inspect_db import query
from tests.pipeline.project import ADD_NOTE, NOTE_FIELDS

QUOTED = {"sqlite": '"shop_invoice"', "postgresql": '"shop_invoice"', "mysql": "`shop_invoice`"}
ANALYZE = {"sqlite": "ANALYZE", "postgresql": "ANALYZE", "mysql": "ANALYZE TABLE"}

RUN_PYTHON = '''
from django.db import migrations


def noop(apps, schema_editor):
    pass


class Migration(migrations.Migration):
    dependencies = [("shop", "0002_note")]
    operations = [migrations.RunPython(noop, noop)]
'''


def deploy_note(project):
    project.migration("0002_note", ADD_NOTE)
    project.models(NOTE_FIELDS)
    result = project.deploy("--no-maintain")
    assert result.code == 0, result.out + result.err


def test_dry_run_reports_the_last_deploys_tables_and_runs_nothing(deployed):
    project, vendor, server, name = deployed
    deploy_note(project)

    result = project.run("maintain", "--dry-run")

    assert result.code == 0, result.out + result.err
    assert "(1 migration(s))" in result.out
    assert "shop_invoice" in result.out.split("Would run:")[0]
    assert f"{ANALYZE[vendor]} {QUOTED[vendor]};" in result.out.split("Would run:")[1]
    if vendor == "sqlite":  # ANALYZE would have created its statistics table
        assert not query(vendor, server, name, "SELECT name FROM sqlite_master WHERE name = 'sqlite_stat1'")


def test_analyze_runs_on_the_deployed_tables(deployed):
    project, vendor, server, name = deployed
    deploy_note(project)
    query(vendor, server, name, "INSERT INTO shop_invoice (number, amount) VALUES ('a', 1), ('b', 2)")

    result = project.run("maintain", "--format", "json")

    assert result.code == 0, result.out + result.err
    payload = json.loads(result.out)
    assert [(a["sql"], a["ok"]) for a in payload["actions"]] == [(f"{ANALYZE[vendor]} {QUOTED[vendor]}", True)]
    assert payload["tables"][0]["table"] == "shop_invoice"
    if vendor == "sqlite":
        assert query(vendor, server, name, "SELECT tbl FROM sqlite_stat1") == [("shop_invoice",)]
    if vendor == "postgresql":
        assert query(vendor, server, name, "SELECT last_analyze IS NOT NULL FROM pg_stat_user_tables"
                                           " WHERE relname = 'shop_invoice'") == [(True,)]


def test_duplicate_indexes_are_reported(deployed):
    project, vendor, server, name = deployed
    for index in ("inv_number_a", "inv_number_b"):
        query(vendor, server, name, f"CREATE INDEX {index} ON shop_invoice (number)")

    result = project.run("maintain", "--dry-run", "--table", "shop_invoice")

    assert result.code == 0, result.out + result.err
    assert "Duplicate indexes on shop_invoice (number): inv_number_a, inv_number_b; drop all but one" in result.out


def test_blocking_rewrite_needs_allow_blocking(deployed):
    project, vendor, server, name = deployed
    if vendor == "postgresql":
        pytest.skip("PostgreSQL rewrites only tables over the dead-tuple threshold: see test_postgresql.py")

    refused = project.run("maintain", "--table", "shop_invoice", "--vacuum")
    allowed = project.run("maintain", "--table", "shop_invoice", "--vacuum", "--allow-blocking")

    assert refused.code == 2
    assert "add --allow-blocking" in refused.err and "Traceback" not in refused.err
    assert allowed.code == 0, allowed.out + allowed.err
    assert ("OPTIMIZE TABLE" if vendor == "mysql" else "VACUUM") in allowed.out


@pytest.mark.parametrize("vendor", ["sqlite"])  # vendor-independent: which tables, not how
def test_run_python_migrations_are_named_as_unknown(deployed):
    project, vendor, server, name = deployed
    deploy_note(project)
    project.migration("0003_python", RUN_PYTHON)
    assert project.deploy("--no-maintain").code == 0

    result = project.run("maintain", "--dry-run")

    assert result.code == 0, result.out + result.err
    assert "Not known: the tables shop.0003_python touches with RunPython or RunSQL" in result.out


@pytest.mark.parametrize("vendor", ["sqlite"])  # vendor-independent: which tables, not how
def test_since_run_takes_every_deploy_from_that_run(deployed):
    project, vendor, server, name = deployed
    first = project.history()[-1]["id"]
    deploy_note(project)

    result = project.run("maintain", "--dry-run", "--since-run", str(first), "--format", "json")

    payload = json.loads(result.out)
    assert len(payload["runs"]) == 2
    assert ["shop", "0001_initial"] in payload["migrations"] and ["shop", "0002_note"] in payload["migrations"]


@pytest.mark.parametrize("vendor", ["sqlite"])  # vendor-independent: which tables, not how
def test_unknown_table_is_a_usage_error(deployed):
    project, vendor, server, name = deployed

    result = project.run("maintain", "--table", "invoice")

    assert result.code == 2
    assert result.err.strip().splitlines() == [
        "error: No table invoice in 'default'; give the database table name (db_table, e.g. shop_invoice), not"
        " the model name."]


def test_without_a_recorded_deploy_it_asks_for_tables(tmp_path):
    from tests.pipeline.project import DeployProject, database_settings

    project = DeployProject(tmp_path / "project", database_settings("sqlite", None, str(tmp_path / "db.sqlite3")))

    result = project.run("maintain")

    assert result.code == 2
    assert result.err.strip() == ("error: No successful deploy that applied migrations is recorded on 'default';"
                                  " name the tables with --table, or run 'pilot deploy' first.")
