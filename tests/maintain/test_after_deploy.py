"""`pilot deploy` ANALYZEs the existing tables it changed (--maintain, on by default), says so, records it."""

from __future__ import annotations

import json

import pytest

from tests.maintain.test_maintain import ANALYZE, QUOTED, RUN_PYTHON
from tests.pipeline.inspect_db import query
from tests.pipeline.project import ADD_NOTE, NOTE_FIELDS, DeployProject, database_settings


def add_note(project, *flags):
    project.migration("0002_note", ADD_NOTE)
    project.models(NOTE_FIELDS)
    return project.deploy(*flags)


def analyzed(vendor, server, name):
    """Whether shop_invoice has planner statistics from an ANALYZE (None where the database does not say)."""
    if vendor == "sqlite":
        if not query(vendor, server, name, "SELECT name FROM sqlite_master WHERE name = 'sqlite_stat1'"):
            return False
        return query(vendor, server, name, "SELECT count(*) FROM sqlite_stat1 WHERE tbl = 'shop_invoice'")[0][0] > 0
    if vendor == "postgresql":
        return query(vendor, server, name, "SELECT last_analyze IS NOT NULL FROM pg_stat_user_tables"
                                           " WHERE relname = 'shop_invoice'") == [(True,)]
    return None


def test_deploy_analyzes_the_table_it_changed_and_records_it(deployed):
    project, vendor, server, name = deployed
    query(vendor, server, name, "INSERT INTO shop_invoice (number, amount) VALUES ('a', 1), ('b', 2)")

    result = add_note(project)

    assert result.code == 0, result.out + result.err
    assert "Maintenance: analyzed shop_invoice (" in result.out
    assert analyzed(vendor, server, name) in {True, None}
    record = project.history()[0]["maintenance"]
    assert [(s["sql"], s["ok"]) for s in record["statements"]] == [(f"{ANALYZE[vendor]} {QUOTED[vendor]}", True)]
    text = project.run("history", "--limit", "1").out
    assert f"maintenance: {ANALYZE[vendor]} {QUOTED[vendor]} (" in text


def test_no_maintain_leaves_the_statistics_alone(deployed):
    project, vendor, server, name = deployed

    result = add_note(project, "--no-maintain")

    assert result.code == 0, result.out + result.err
    assert "Maintenance" not in result.out
    assert analyzed(vendor, server, name) in {False, None}
    assert project.history()[0]["maintenance"] is None


@pytest.mark.parametrize("vendor", ["sqlite"])  # which tables, not how: vendor-independent
def test_tables_the_deploy_created_are_not_analyzed(vendor, tmp_path):
    name = str(tmp_path / "db.sqlite3")
    project = DeployProject(tmp_path / "project", database_settings("sqlite", None, name))

    result = project.deploy()

    assert result.code == 0, result.out + result.err
    assert "Maintenance: nothing to analyze (this deploy only created tables)." in result.out
    assert analyzed("sqlite", None, name) is False
    assert project.history()[0]["maintenance"]["new_tables"] == ["shop_invoice"]


@pytest.mark.parametrize("vendor", ["sqlite"])
def test_run_python_tables_are_named_as_not_known(deployed):
    project, vendor, server, name = deployed
    assert add_note(project).code == 0
    project.migration("0003_python", RUN_PYTHON)

    result = project.deploy()

    assert result.code == 0, result.out + result.err
    assert ("Not analyzed: the tables shop.0003_python changes with RunPython or RunSQL are not known; name them"
            " with 'pilot maintain --table TABLE'.") in result.out


@pytest.mark.parametrize("vendor", ["sqlite"])
def test_setting_turns_it_off_and_a_bad_value_is_a_usage_error(deployed):
    project, vendor, server, name = deployed
    settings = project.root / "settings.py"
    plain = settings.read_text()
    settings.write_text(plain.replace('MIGRATION_PILOT = {', 'MIGRATION_PILOT = {"maintain": "no", '))
    project.migration("0002_note", ADD_NOTE)
    project.models(NOTE_FIELDS)

    bad = project.deploy()
    settings.write_text(plain.replace('MIGRATION_PILOT = {', 'MIGRATION_PILOT = {"maintain": False, '))
    off = project.deploy()

    assert bad.code == 2
    assert "Bad value for 'maintain': 'no'; give True or False" in bad.err.strip().splitlines()[-1]
    assert "Traceback" not in bad.err
    assert off.code == 0, off.out + off.err
    assert "Maintenance" not in off.out
    assert analyzed("sqlite", None, name) is False


def test_json_output_carries_the_maintenance(deployed):
    project, vendor, server, name = deployed

    result = add_note(project, "--format", "json")

    payload = json.loads(result.out)
    (event,) = [e for e in payload["events"] if e["kind"] == "maintenance"]
    assert [s["table"] for s in event["maintenance"]["statements"]] == ["shop_invoice"]
