"""The validate stage refuses a broken migration graph or history before anything changes (exit 1)."""

from __future__ import annotations

from tests.pipeline.inspect_db import applied, query, schema_dump
from tests.pipeline.project import ADD_NOTE, NOTE_FIELDS

OTHER_BRANCH = '''
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("shop", "0001_initial")]
    operations = [migrations.AddField("invoice", "memo", models.CharField(max_length=20, null=True))]
'''

AFTER_NOTE = '''
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("shop", "0002_note")]
    operations = [migrations.RunSQL("SELECT 1", migrations.RunSQL.noop)]
'''


def refused_with_nothing_changed(project, vendor, server, name, *needles):
    before_schema = schema_dump(vendor, server, name)
    before_applied = applied(vendor, server, name)

    result = project.deploy()

    assert result.code == 1, result.out + result.err
    for needle in needles:
        assert needle in result.out + result.err
    assert "Traceback" not in result.err
    assert schema_dump(vendor, server, name) == before_schema
    assert applied(vendor, server, name) == before_applied
    assert project.history()[0]["outcome"] in {"refused", "failed"}
    return result


def test_conflicting_leaves_are_refused_with_the_merge_command(deployable):
    project, vendor, server, name = deployable
    assert project.deploy().code == 0
    project.migration("0002_note", ADD_NOTE)
    project.migration("0002_memo", OTHER_BRANCH)
    project.models(NOTE_FIELDS + "\n    memo = models.CharField(max_length=20, null=True)")

    refused_with_nothing_changed(project, vendor, server, name, "conflicting migrations in shop",
                                 "0002_memo, 0002_note", "makemigrations --merge shop")


def test_model_changes_without_a_migration_are_refused(deployable):
    project, vendor, server, name = deployable
    assert project.deploy().code == 0
    project.models(NOTE_FIELDS)  # a field no migration adds

    refused_with_nothing_changed(project, vendor, server, name, "models have changes no migration contains",
                                 "Add field note to invoice", "makemigrations")


def test_inconsistent_history_is_refused(deployable):
    project, vendor, server, name = deployable
    assert project.deploy().code == 0
    project.migration("0002_note", ADD_NOTE)
    project.migration("0003_after", AFTER_NOTE)
    project.models(NOTE_FIELDS)
    before_schema = schema_dump(vendor, server, name)
    # 0003 recorded as applied while 0002, which it depends on, is not.
    query(vendor, server, name,
          "INSERT INTO django_migrations (app, name, applied) VALUES ('shop', '0003_after', CURRENT_TIMESTAMP)")

    result = project.deploy()

    assert result.code == 1, result.out + result.err
    assert "shop.0003_after is applied before its dependency shop.0002_note" in result.out + result.err
    assert "Traceback" not in result.err
    assert ("shop", "0002_note") not in applied(vendor, server, name)
    assert schema_dump(vendor, server, name) == before_schema


def test_database_ahead_of_the_code_is_refused_before_the_backup(deployable):
    """D6: an applied migration whose file is gone (an older release deployed, a file deleted)."""
    project, vendor, server, name = deployable
    project.migration("0002_note", ADD_NOTE)
    project.models(NOTE_FIELDS)
    assert project.deploy().code == 0
    (project.root / "shop" / "migrations" / "0002_note.py").unlink()
    project.migration("0003_memo", OTHER_BRANCH)  # the older release's own next migration
    project.models("number = models.CharField(max_length=30)\n    amount = models.IntegerField(default=0)\n"
                   "    memo = models.CharField(max_length=20, null=True)")

    result = project.run("deploy", "--retry-delay", "0.1s", "--fail-on", "never")

    assert result.code == 1, result.out + result.err
    assert "applied migrations that are not on disk (shop.0002_note): it is ahead of this code" in result.out
    assert "Restore shop/migrations/0002_note.py from version control" in result.out
    assert "Backing up" not in result.out  # refused before the backup stage
    assert ("shop", "0003_memo") not in applied(vendor, server, name)


def test_rows_left_by_an_uninstalled_app_do_not_fail_the_deploy(deployable):
    """Django ignores django_migrations rows of apps no longer installed; so does the deploy."""
    project, vendor, server, name = deployable
    assert project.deploy().code == 0
    query(vendor, server, name,
          "INSERT INTO django_migrations (app, name, applied) VALUES ('flatpages', '0001_initial', CURRENT_TIMESTAMP)")
    project.migration("0002_note", ADD_NOTE)
    project.models(NOTE_FIELDS)

    result = project.deploy()

    assert result.code == 0, result.out + result.err
    assert ("shop", "0002_note") in applied(vendor, server, name)
