"""`pilot docs` pages carry what rehearsals and deploys measured, each figure naming its source."""

from __future__ import annotations

import json
import re

import pytest

from tests.databases import scratch_database
from tests.pipeline.project import ADD_NOTE, NOTE_FIELDS, DeployProject, database_settings


@pytest.fixture(params=["sqlite", "postgresql"])
def rehearsed(request, tmp_path, scratch_db_access):
    """(project, report path): shop.0001 deployed, 0002_note rehearsed (report written), not deployed."""
    vendor = request.param
    if vendor == "sqlite":
        yield _rehearse(DeployProject(tmp_path / "project", database_settings("sqlite", None,
                                                                              str(tmp_path / "db.sqlite3"))))
        return
    server = request.getfixturevalue("postgresql_server")
    with scratch_database(server, "pilot_docs_m") as name:
        yield _rehearse(DeployProject(tmp_path / "project", database_settings(vendor, server, name)))


def _rehearse(project):
    assert project.deploy().code == 0
    project.migration("0002_note", ADD_NOTE)
    project.models(NOTE_FIELDS)
    result = project.run("rehearse", "--rows", "50", "--format", "json")
    assert result.code == 0, result.out + result.err
    report = project.root / "rehearsal.json"
    report.write_text(result.out)
    return project, report


def section(project, output):
    text = (project.root / output / "shop" / "0002_note.md").read_text()
    return text.split("## Measured durations", 1)[1]


def test_rehearsal_report_figures_name_the_report(rehearsed):
    project, report = rehearsed
    seconds = {m["name"]: m["forward"]["seconds"] for m in json.loads(report.read_text())["migrations"]}

    result = project.run("docs", "shop", "--output", "out", "--rehearsal", str(report))

    assert result.code == 0, result.out + result.err
    measured = section(project, "out")
    assert f"| apply | {seconds['0002_note']:.3f} s |" in measured
    assert "rehearsal report `rehearsal.json` (50 rows per table," in measured
    assert "not production's time" in measured


def test_history_gives_the_rehearsal_then_the_real_deploy_each_with_its_source(rehearsed):
    project, report = rehearsed

    before = project.run("docs", "shop", "--output", "before", "--database", "default")
    assert project.deploy().code == 0
    after = project.run("docs", "shop", "--output", "after", "--database", "default", "--format", "json")

    assert before.code == 0 and after.code == 0, before.err + after.err
    rows = [line for line in section(project, "before").splitlines() if line.startswith("| apply")]
    assert len(rows) == 1 and re.search(r"rehearsal #\d+ on a scratch copy of `default`, 50 rows per table", rows[0])
    page = json.loads((project.root / "after" / "shop" / "0002_note.json").read_text())
    assert [(m["direction"], m["kind"]) for m in page["measured"]] == [("apply", "deploy"), ("apply", "rehearsal"),
                                                                 ("unapply", "rehearsal")]
    assert page["measured"][0]["source"].startswith(f"deploy #{project.history()[0]['id']} on `default`, ")
    assert round(page["durations"]["apply"], 3) == page["measured"][0]["seconds"]  # the real run's figure wins


@pytest.mark.parametrize("content, message", [
    ("not json", "is not JSON"),
    ('{"rows": 5}', "is not a 'pilot rehearse --format json' report (no 'migrations' list)"),
])
def test_bad_rehearsal_report_is_a_one_line_error(tmp_path, content, message):
    project = DeployProject(tmp_path / "project", database_settings("sqlite", None, str(tmp_path / "db.sqlite3")))
    report = tmp_path / "report.json"
    report.write_text(content)

    result = project.run("docs", "shop", "--output", "out", "--rehearsal", str(report))

    assert result.code == 2
    assert len(result.err.strip().splitlines()) == 1 and message in result.err
    assert not (project.root / "out").exists()
