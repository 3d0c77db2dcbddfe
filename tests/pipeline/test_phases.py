"""Deploy phases: post-deploy migrations wait for 'pilot deploy --phase post' (expand/contract)."""

from __future__ import annotations

import enum

import pytest

from migration_pilot.pipeline.phases import phase_of
from tests.pipeline.inspect_db import applied
from tests.pipeline.project import ADD_NOTE, NOTE_FIELDS

DROP_AMOUNT = '''
from django.db import migrations


class Migration(migrations.Migration):
    deploy_phase = "post"
    dependencies = [("shop", "0002_note")]
    operations = [migrations.RemoveField("invoice", "amount")]
'''

AFTER_DROP = '''
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("shop", "0003_drop_amount")]
    operations = [migrations.RunSQL("SELECT 1", migrations.RunSQL.noop)]
'''


class SafemigrateSafe(enum.Enum):  # django-safemigrate's values, by name
    before_deploy = "before_deploy"
    after_deploy = "after_deploy"
    always = "always"


class SyzygyStage(enum.StrEnum):  # django-syzygy's values (a str enum)
    PRE_DEPLOY = "pre_deploy"
    POST_DEPLOY = "post_deploy"


@pytest.mark.parametrize("attributes, phase", [
    ({}, "pre"),
    ({"deploy_phase": "post"}, "post"),
    ({"safe": SafemigrateSafe.after_deploy}, "post"),
    ({"safe": SafemigrateSafe.before_deploy}, "pre"),
    ({"safe": SafemigrateSafe.always}, "pre"),
    ({"stage": SyzygyStage.POST_DEPLOY}, "post"),
    ({"stage": SyzygyStage.PRE_DEPLOY}, "pre"),
])
def test_phase_of_reads_our_attribute_and_the_peers(attributes, phase):
    migration = type("Migration", (), attributes)()

    assert phase_of(migration) == phase


def test_post_deploy_migrations_wait_for_the_post_phase(deployable):
    project, vendor, server, name = deployable
    assert project.deploy().code == 0
    project.migration("0002_note", ADD_NOTE)
    project.migration("0003_drop_amount", DROP_AMOUNT)
    project.migration("0004_after", AFTER_DROP)
    project.models("number = models.CharField(max_length=30)\n    note = models.CharField(max_length=50, null=True)")

    early = project.deploy("--phase", "post")
    pre = project.deploy("--phase", "pre")
    after_pre = applied(vendor, server, name)
    post = project.deploy("--phase", "post")

    assert early.code == 1 and "pre-deploy migration(s) shop.0002_note are not applied yet" in early.out
    assert pre.code == 0, pre.out + pre.err
    assert "Holding back 2 post-deploy migration(s)" in pre.out
    assert ("shop", "0002_note") in after_pre and ("shop", "0003_drop_amount") not in after_pre
    assert post.code == 0, post.out + post.err
    assert "drop-column" not in post.out  # the old code is gone by the post phase: dropping is no hazard then
    assert {("shop", "0003_drop_amount"), ("shop", "0004_after")} <= set(applied(vendor, server, name))


def test_a_plain_deploy_warns_that_post_deploy_migrations_run_early(sqlite_project_at_note):
    project = sqlite_project_at_note
    project.migration("0003_drop_amount", DROP_AMOUNT)
    project.models("number = models.CharField(max_length=30)\n    note = models.CharField(max_length=50, null=True)")

    result = project.deploy("--fail-on", "never")

    assert result.code == 0, result.out + result.err
    assert "shop.0003_drop_amount marked post-deploy: deploying it with everything else" in result.out


@pytest.fixture
def sqlite_project_at_note(tmp_path):
    from tests.pipeline.project import DeployProject, database_settings

    project = DeployProject(tmp_path / "project", database_settings("sqlite", None, str(tmp_path / "db.sqlite3")))
    project.migration("0002_note", ADD_NOTE)
    project.models(NOTE_FIELDS)
    assert project.deploy().code == 0
    return project


def test_after_the_release_findings_about_the_old_code_do_not_refuse():
    from migration_pilot.diagnostics import Diagnostic, Severity
    from migration_pilot.plan.build import Plan

    drop = Diagnostic("drop-column", Severity.ERROR, "drops", "", "postgresql", "shop", "0003_drop_amount", 0)
    lock = Diagnostic("add-index-non-concurrent", Severity.ERROR, "locks", "", "postgresql", "shop", "0003", 0)
    plan = Plan("default", "postgresql", [], [], [drop, lock])

    assert plan.blocking_findings(Severity.ERROR) == [drop, lock]
    assert plan.blocking_findings(Severity.ERROR, after_release=True) == [lock]


def test_lint_does_not_flag_the_old_code_in_a_post_deploy_migration(tmp_path):
    import json

    from tests.pipeline.project import DeployProject, database_settings

    project = DeployProject(tmp_path / "project", database_settings("sqlite", None, str(tmp_path / "db.sqlite3")))
    project.migration("0002_note", ADD_NOTE)
    project.migration("0003_drop_amount", DROP_AMOUNT.replace('deploy_phase = "post"', "PHASE"))
    project.models("number = models.CharField(max_length=30)\n    note = models.CharField(max_length=50, null=True)")
    path = project.root / "shop" / "migrations" / "0003_drop_amount.py"

    def rules():
        result = project.run("lint", "--vendor", "postgresql", "--format", "json", "--fail-on", "never")
        assert result.code == 0, result.err
        return {f["rule"] for f in json.loads(result.out)["findings"] if f["migration"] == "0003_drop_amount"}

    path.write_text(path.read_text().replace("PHASE", "atomic = True"))
    before = rules()
    path.write_text(path.read_text().replace("atomic = True", 'deploy_phase = "post"'))
    after = rules()

    assert "drop-column" in before
    assert "drop-column" not in after
