"""The run history across releases: files edited after applying (D9), tables from an older release."""

from __future__ import annotations

from tests.pipeline.inspect_db import applied, query
from tests.pipeline.project import ADD_NOTE, NOTE_FIELDS

NEXT = '''
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("shop", "0002_note")]
    operations = [migrations.RunSQL("SELECT 1", migrations.RunSQL.noop)]
'''


def test_a_migration_edited_after_it_was_applied_is_reported(deployable):
    project, vendor, server, name = deployable
    project.migration("0002_note", ADD_NOTE)
    project.models(NOTE_FIELDS)
    assert project.deploy().code == 0
    untouched = project.deploy()  # nothing to do, nothing edited
    path = project.root / "shop" / "migrations" / "0002_note.py"
    # An edit that changes nothing in the schema (a changed one fails the verify stage as well).
    path.write_text(path.read_text() + "\n# reviewed again after the release\n")
    project.migration("0003_next", NEXT)

    result = project.deploy()

    assert "changed since" not in untouched.out
    assert result.code == 0, result.out + result.err  # a warning: only a person can judge the edit
    assert "Warning: shop.0002_note changed since deploy #1 applied it on " in result.out
    assert "databases that already ran it keep the old version" in result.out
    assert ("shop", "0003_next") in applied(vendor, server, name)


def test_history_tables_from_an_older_release_are_upgraded_by_the_next_deploy(deployable):
    project, vendor, server, name = deployable
    assert project.deploy().code == 0
    # What a database deployed by an older release looks like: history migrations 0001-0002 only.
    for table in ("migration_pilot_fleettenant", "migration_pilot_keptdefault", "migration_pilot_backfillcheckpoint"):
        query(vendor, server, name, f"DROP TABLE {table}")
    for column in ("impact", "file_sha256"):
        query(vendor, server, name, f"ALTER TABLE migration_pilot_migrationrun DROP COLUMN {column}")
    query(vendor, server, name, "DELETE FROM django_migrations WHERE app = 'migration_pilot'"
                                " AND name >= '0003'")
    project.migration("0002_note", ADD_NOTE)
    project.models(NOTE_FIELDS)

    shown = project.run("history")
    dry = project.deploy("--dry-run")
    deployed = project.deploy()
    after = project.run("history")

    assert shown.code == 2 and "Traceback" not in shown.err
    assert "older than this release of django-migration-pilot (0003_migrationrun_file_sha256, " in shown.err
    assert "python manage.py migrate migration_pilot" in shown.err
    assert dry.code == 0, dry.out + dry.err
    assert deployed.code == 0, deployed.out + deployed.err
    assert ("migration_pilot", "0003_migrationrun_file_sha256") in applied(vendor, server, name)
    assert after.code == 0 and "shop.0002_note applied" in after.out


def test_verify_names_the_edited_migration_file_as_the_cause_of_drift(tmp_path):
    from tests.pipeline.project import DeployProject, database_settings

    project = DeployProject(tmp_path / "project", database_settings("sqlite", None, str(tmp_path / "db.sqlite3")))
    project.migration("0002_note", ADD_NOTE)
    project.models(NOTE_FIELDS)
    assert project.deploy().code == 0
    path = project.root / "shop" / "migrations" / "0002_note.py"
    path.write_text(path.read_text().replace("max_length=50", "max_length=60"))  # edited after it ran
    project.models(NOTE_FIELDS.replace("max_length=50", "max_length=60"))

    result = project.run("verify")

    assert result.code == 1, result.out + result.err
    assert "Likely cause: an applied migration was edited after it ran here" in result.out
    assert str(path) in result.out.replace("\n", "")
