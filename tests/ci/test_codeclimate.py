"""`pilot lint --format codeclimate`: GitLab's code quality report."""

import json

from tests.cli.project import ADD_INDEX, make_project


def test_codeclimate_report_has_one_issue_per_finding_with_a_stable_fingerprint(tmp_path):
    project = make_project(tmp_path)
    project.migration("0002_index", ADD_INDEX)

    first = project.run("lint", "--format", "codeclimate", "--vendor", "postgresql")
    again = project.run("lint", "--format", "codeclimate", "--vendor", "postgresql")

    assert first.code == 1, first.out + first.err
    issues = json.loads(first.out)
    index = next(i for i in issues if i["check_name"] == "add-index-non-concurrent")
    assert index["type"] == "issue" and index["severity"] == "major"
    assert index["location"] == {"path": "shop/migrations/0002_index.py", "lines": {"begin": 7}}
    assert "invoice_status_idx" in index["description"]
    assert len(index["fingerprint"]) == 64
    assert len({i["fingerprint"] for i in issues}) == len(issues)
    assert [i["fingerprint"] for i in json.loads(again.out)] == [i["fingerprint"] for i in issues]
