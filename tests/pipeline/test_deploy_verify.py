"""The deploy's verify stage: drift found after apply fails the deploy; an empty start needs no shadow."""

from __future__ import annotations

import json

import pytest

from tests.pipeline.inspect_db import applied, query
from tests.pipeline.project import ADD_NOTE, NOTE_FIELDS

INDEXED = '''
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("shop", "0002_note")]
    operations = [
        migrations.AddIndex("invoice", models.Index(fields=["number"], name="invoice_number_idx")),
    ]
'''


def events(result):
    return {e["kind"]: e["message"] for e in json.loads(result.out)["events"]}


def test_first_deploy_to_an_empty_database_checks_history_without_a_shadow(deployable):
    project, _vendor, _server, _name = deployable

    result = project.deploy("--format", "json")

    assert result.code == 0, result.out + result.err
    seen = events(result)
    assert "empty before this deploy" in seen["verify_note"]
    assert "verify_finished" in seen


def test_prepared_reference_is_used_by_the_deploy(deployable):
    project, _vendor, _server, _name = deployable
    prepared = project.run("verify", "--prepare")
    assert prepared.code == 0, prepared.out + prepared.err
    assert prepared.out.startswith("Reference schema cached: ")

    result = project.deploy("--format", "json")

    assert result.code == 0, result.out + result.err
    seen = events(result)
    assert "verify_note" not in seen  # read from the cache: neither skipped nor built
    assert "verify_finished" in seen
    again = project.run("verify", "--prepare")
    assert again.out.startswith("Reference schema already cached: ")


def test_drift_found_after_apply_fails_the_deploy_and_rolls_it_back(deployable):
    project, vendor, server, name = deployable
    project.migration("0002_note", ADD_NOTE)
    project.models(NOTE_FIELDS)
    assert project.deploy().code == 0
    # A hand-made hotfix nobody put in a migration: an extra column.
    query(vendor, server, name, "ALTER TABLE shop_invoice ADD COLUMN hotfix integer")
    before = applied(vendor, server, name)
    project.migration("0003_index", INDEXED)
    project.models(NOTE_FIELDS + "\n\n    class Meta:\n        indexes = [models.Index(fields=['number'],"
                   " name='invoice_number_idx')]")

    result = project.deploy("--fail-on", "never")

    assert result.code == 3, result.out + result.err
    assert "verification found" in result.out and "hotfix" in result.out
    assert applied(vendor, server, name) == before
    assert project.history()[0]["outcome"] == "rolled_back"


SQUASHED = '''
from django.db import migrations, models


class Migration(migrations.Migration):
    replaces = [("shop", "0002_note"), ("shop", "0003_index")]
    dependencies = [("shop", "0001_initial")]
    operations = [
        migrations.AddField("invoice", "note", models.CharField(max_length=50, null=True)),
        migrations.AddIndex("invoice", models.Index(fields=["number"], name="invoice_number_idx")),
    ]
'''


def test_squashed_migration_is_recorded_as_migrate_records_it(deployable):
    project, vendor, server, name = deployable
    project.migration("0002_note", ADD_NOTE)
    project.migration("0003_index", INDEXED)
    project.migration("0002_squashed_0003", SQUASHED)
    project.models(NOTE_FIELDS + "\n\n    class Meta:\n        indexes = [models.Index(fields=['number'],"
                   " name='invoice_number_idx')]")

    result = project.deploy("--fail-on", "never")

    assert result.code == 0, result.out + result.err
    recorded = applied(vendor, server, name)
    assert {("shop", "0002_note"), ("shop", "0003_index"), ("shop", "0002_squashed_0003")} <= set(recorded)
    verified = project.run("verify")
    assert verified.code == 0, verified.out


# Uses a function a person created by hand: it exists here, but not on a fresh database.
HAND_MADE_FUNCTION_INDEX = '''
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("shop", "0001_initial")]
    operations = [
        migrations.RunSQL("CREATE INDEX invoice_code_idx ON shop_invoice ((hand_made_code(number::text)))",
                          "DROP INDEX invoice_code_idx"),
    ]
'''


@pytest.mark.parametrize("vendor", ["postgresql"])
def test_verification_that_cannot_run_fails_the_deploy_and_rolls_it_back(deployable):
    project, vendor, server, name = deployable
    assert project.deploy().code == 0
    query(vendor, server, name, "CREATE FUNCTION hand_made_code(text) RETURNS text IMMUTABLE LANGUAGE sql"
                                " AS 'SELECT upper($1)'")
    before = applied(vendor, server, name)
    project.migration("0002_code", HAND_MADE_FUNCTION_INDEX)

    result = project.deploy("--fail-on", "never")

    assert result.code == 3, result.out + result.err
    assert "verification could not run" in result.out and "--no-verify" in result.out
    assert "back at its pre-deploy state" in result.out
    assert applied(vendor, server, name) == before
    assert project.history()[0]["outcome"] == "rolled_back"


CUSTOMER = '''
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("shop", "0002_note")]
    operations = [migrations.CreateModel("Customer", [
        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
        ("name", models.CharField(max_length=30)),
    ])]
'''


def test_drift_from_before_the_deploy_on_an_untouched_table_only_warns(deployable):
    """Old drift is not this deploy's doing: it warns and the deploy stands (the drift stays as it was)."""
    project, vendor, server, name = deployable
    project.migration("0002_note", ADD_NOTE)
    project.models(NOTE_FIELDS)
    assert project.deploy().code == 0
    query(vendor, server, name, "ALTER TABLE shop_invoice ADD COLUMN hotfix integer")  # drift, before
    project.migration("0003_customer", CUSTOMER)
    project.models(NOTE_FIELDS + "\n\n\nclass Customer(models.Model):\n    name = models.CharField(max_length=30)")

    result = project.deploy("--fail-on", "never")

    assert result.code == 0, result.out + result.err
    assert "1 difference(s) were there before this deploy, on tables it did not touch" in result.out
    assert "shop_invoice hotfix" in result.out
    assert ("shop", "0003_customer") in applied(vendor, server, name)
