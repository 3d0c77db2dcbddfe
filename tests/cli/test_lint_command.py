"""`pilot lint` end to end: formats, exit codes, configuration and adoption features."""

import json
import subprocess

import pytest

from tests.cli.project import ADD_INDEX, make_project

SECOND_INDEX = '''
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("shop", "0002_index")]
    operations = [
        migrations.AddIndex("invoice", models.Index(fields=["id", "status"], name="invoice_id_status_idx")),
    ]
'''


@pytest.fixture
def project(tmp_path):
    project = make_project(tmp_path)
    project.migration("0002_index", ADD_INDEX)
    project.write("shop/models.py", """
        from django.db import models


        class Invoice(models.Model):
            status = models.CharField(max_length=20)

            class Meta:
                indexes = [models.Index(fields=["status"], name="invoice_status_idx")]
    """)
    return project


def test_text_output_names_file_line_rule_lock_and_fix(project):
    result = project.run("lint")

    assert result.code == 1
    assert "shop/migrations/0002_index.py:7: add-index-non-concurrent [error] shop.0002_index" in result.out
    assert "lock: SHARE lock on shop_invoice (blocks writes; scans the table)" in result.out
    assert "help: Use AddIndexConcurrently in its own migration with atomic = False." in result.out
    assert "dependencies = [('shop', '0001_initial')]" in result.out
    assert result.out.rstrip().endswith(
        "Found 1 problem (1 error) in 1 of 2 migrations (postgresql).\n"
        "Skipped 2 third-party apps (name them, or pass --all-apps, to lint them)."
    )


def test_json_contract(project):
    result = project.run("lint", "--format", "json")

    payload = json.loads(result.out)
    (finding,) = payload["findings"]
    assert set(finding) >= {"rule", "severity", "app", "migration", "operation", "message", "hint",
                            "path", "line", "vendor"}
    assert finding["rule"] == "add-index-non-concurrent"
    assert finding["severity"] == "error"
    assert (finding["app"], finding["migration"], finding["operation"]) == ("shop", "0002_index", 0)
    assert finding["path"].endswith("shop/migrations/0002_index.py")
    assert finding["line"] == 7
    assert finding["vendor"] == "postgresql"
    assert payload["summary"]["errors"] == 1
    assert payload["summary"]["skipped_apps"] == ["auth", "contenttypes"]


def test_project_level_findings_have_null_migration(project):
    project.write("shop/models.py", """
        from django.db import models


        class Invoice(models.Model):
            status = models.CharField(max_length=20)
            total = models.IntegerField(default=0)
    """)

    payload = json.loads(project.run("lint", "--format", "json").out)

    missing = [f for f in payload["findings"] if f["rule"] == "missing-migration"]
    assert len(missing) == 1
    assert missing[0]["migration"] is None and missing[0]["operation"] is None
    assert "Add field total to invoice" in missing[0]["message"]


def test_sarif_output(project):
    payload = json.loads(project.run("lint", "--format", "sarif").out)

    (run,) = payload["runs"]
    (entry,) = run["results"]
    assert payload["version"] == "2.1.0"
    assert entry["ruleId"] == "add-index-non-concurrent"
    assert entry["locations"][0]["physicalLocation"]["region"]["startLine"] == 7
    assert run["tool"]["driver"]["rules"][0]["id"] == "add-index-non-concurrent"


def test_github_annotations(project):
    result = project.run("lint", "--format", "github")

    first = result.out.splitlines()[0]
    assert first.startswith("::error file=shop/migrations/0002_index.py,line=7,title=add-index-non-concurrent::")
    assert "blocks writes to shop_invoice" in first


def test_vendor_from_engine_sqlite_skips_postgres_rules(tmp_path):
    project = make_project(tmp_path, database_engine="django.db.backends.sqlite3")
    project.migration("0002_index", ADD_INDEX)

    result = project.run("lint", "--select", "add-index-non-concurrent")

    assert result.code == 0
    assert "No problems found in 2 migrations (sqlite)." in result.out


def test_vendor_flag_overrides_engine(tmp_path):
    project = make_project(tmp_path, database_engine="django.db.backends.sqlite3")
    project.migration("0002_index", ADD_INDEX)

    result = project.run("lint", "--vendor", "postgresql", "--select", "add-index-non-concurrent")

    assert result.code == 1


def test_fail_on_never_reports_but_exits_zero(project):
    result = project.run("lint", "--fail-on", "never")

    assert result.code == 0
    assert "add-index-non-concurrent" in result.out


def test_ignore_flag(project):
    result = project.run("lint", "--ignore", "add-index-non-concurrent")

    assert result.code == 0


def test_severity_override_in_pyproject(project):
    project.write("pyproject.toml", """
        [tool.migration_pilot]
        severity = {add-index-non-concurrent = "warning"}
    """)

    result = project.run("lint")

    assert result.code == 0
    assert "add-index-non-concurrent [warning]" in result.out


def test_settings_override_pyproject(tmp_path):
    project = make_project(tmp_path, extra_settings="""
        MIGRATION_PILOT = {"fail_on": "warning"}
    """)
    project.migration("0002_index", ADD_INDEX)
    project.write("pyproject.toml", """
        [tool.migration_pilot]
        fail_on = "never"
        severity = {add-index-non-concurrent = "warning"}
    """)

    result = project.run("lint")

    assert result.code == 1


def test_baseline_skips_up_to_and_including(project):
    project.migration("0003_second_index", SECOND_INDEX)
    project.write("pyproject.toml", """
        [tool.migration_pilot]
        baseline = {shop = "0002_index"}
        ignore = ["missing-migration"]
    """)

    payload = json.loads(project.run("lint", "--format", "json").out)

    assert [f["migration"] for f in payload["findings"]] == ["0003_second_index"]


def test_exclude_apps(project):
    project.write("pyproject.toml", '[tool.migration_pilot]\nexclude_apps = ["shop"]\n')

    result = project.run("lint")

    assert result.code == 0
    assert "No problems found in 0 migrations" in result.out


def test_third_party_apps_linted_when_named_or_all(project):
    named = json.loads(project.run("lint", "auth", "--format", "json").out)
    everything = json.loads(project.run("lint", "--all-apps", "--format", "json").out)

    assert named["summary"]["apps"] == ["auth"]
    assert named["summary"]["migrations_checked"] >= 10
    assert set(everything["summary"]["apps"]) == {"auth", "contenttypes", "shop"}


def test_since_lints_only_changed_migrations(project):
    git = ["git", "-C", str(project.root)]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "base"], check=True)
    project.migration("0003_second_index", SECOND_INDEX)

    payload = json.loads(project.run("lint", "--since", "HEAD", "--format", "json").out)

    assert [f["migration"] for f in payload["findings"]] == ["0003_second_index"]


def test_rules_command_lists_every_rule(project):
    result = project.run("rules")

    assert result.code == 0
    assert "add-index-non-concurrent" in result.out
    assert "postgresql" in result.out


def test_file_wide_suppression(project):
    project.migration("0002_index", "# pilot: ignore-file add-index-non-concurrent -- 200 rows\n" + ADD_INDEX)

    result = project.run("lint")

    assert result.code == 0


def test_misspelled_suppression_is_reported(project):
    project.migration("0002_index", ADD_INDEX.replace(
        "        migrations.AddIndex(",
        "        # pilot: ignore add-index-nonconcurrent -- tiny table\n        migrations.AddIndex(",
    ))

    payload = json.loads(project.run("lint", "--format", "json").out)

    rules = sorted(f["rule"] for f in payload["findings"])
    assert rules == ["add-index-non-concurrent", "invalid-suppression"]
    invalid = next(f for f in payload["findings"] if f["rule"] == "invalid-suppression")
    assert "unknown rule 'add-index-nonconcurrent'" in invalid["message"]
    assert invalid["line"] == 7


def test_docs_line_names_a_command_every_install_has(project):
    result = project.run("lint")
    (docs,) = [line.strip() for line in result.out.splitlines() if line.strip().startswith("docs:")]

    shown = project.run(*docs.removeprefix("docs: manage.py pilot ").split())

    assert docs == "docs: manage.py pilot rules add-index-non-concurrent"
    assert shown.code == 0
    assert shown.out.startswith("# add-index-non-concurrent\n")
    assert "## Why is this dangerous?" in shown.out and "## Safe alternative" in shown.out


def test_rules_with_an_unknown_rule_is_a_one_line_error(project):
    result = project.run("rules", "add-idx")

    assert result.code == 2
    assert "Unknown rule 'add-idx'" in result.err and "Traceback" not in result.err


def test_sarif_ships_the_rule_documentation(project):
    payload = json.loads(project.run("lint", "--format", "sarif").out)

    (descriptor,) = payload["runs"][0]["tool"]["driver"]["rules"]
    assert "helpUri" not in descriptor
    assert descriptor["help"]["markdown"].startswith("# add-index-non-concurrent\n")


def test_missing_migration_is_placed_on_its_app_in_json_and_sarif(project):
    project.write("shop/models.py", """
        from django.db import models


        class Invoice(models.Model):
            status = models.CharField(max_length=20)
            note = models.TextField(default="")

            class Meta:
                indexes = [models.Index(fields=["status"], name="invoice_status_idx")]
    """)

    findings = json.loads(project.run("lint", "--format", "json").out)["findings"]
    sarif = json.loads(project.run("lint", "--format", "sarif").out)["runs"][0]["results"]

    (missing,) = [f for f in findings if f["rule"] == "missing-migration"]
    assert missing["app"] == "shop"
    (result,) = [r for r in sarif if r["ruleId"] == "missing-migration"]
    assert result["locations"][0]["logicalLocations"] == [{"name": "shop", "kind": "module"}]
