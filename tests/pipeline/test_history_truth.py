"""The run history tells the truth: a deploy that did nothing is no run, --limit means what it says."""

from __future__ import annotations

from tests.pipeline.project import DeployProject, database_settings


def test_a_deploy_with_nothing_to_do_records_no_run_and_limit_zero_shows_none(tmp_path):
    project = DeployProject(tmp_path / "project", database_settings("sqlite", None, str(tmp_path / "db.sqlite3")))
    assert project.deploy().code == 0

    nothing = project.deploy()
    runs = project.history()
    none_shown = project.run("history", "--limit", "0", "--format", "json")
    negative = project.run("history", "--limit", "-1")

    assert nothing.code == 0 and "Nothing to deploy" in nothing.out
    assert len(runs) == 1 and runs[0]["outcome"] == "succeeded"
    assert none_shown.code == 0 and none_shown.out.strip() == "[]"
    assert negative.code == 2 and negative.err.count("\n") == 1 and "--limit" in negative.err
