"""`--target` deploys backwards too, and `plan` estimates durations from past runs."""

from __future__ import annotations

import json

from tests.pipeline.inspect_db import applied, schema_dump
from tests.pipeline.project import ADD_NOTE, NOTE_FIELDS

# Its reverse fails: a backwards deploy through it must put back what it unapplied first.
BROKEN_REVERSE = '''
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("shop", "0002_note")]
    operations = [migrations.RunSQL("SELECT 1", "SELECT * FROM table_that_does_not_exist")]
'''

SECOND_NOTE = '''
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("shop", "0003_marker")]
    operations = [migrations.AddField("invoice", "memo", models.CharField(max_length=20, null=True))]
'''


def test_target_deploy_unapplies_back_to_an_earlier_migration(deployable):
    project, vendor, server, name = deployable
    assert project.deploy().code == 0
    at_initial = schema_dump(vendor, server, name)
    project.migration("0002_note", ADD_NOTE)
    project.models(NOTE_FIELDS)
    assert project.deploy().code == 0
    assert ("shop", "0002_note") in applied(vendor, server, name)

    result = project.deploy("--target", "shop", "0001_initial", "--format", "json")

    assert result.code == 0, result.out + result.err
    assert json.loads(result.out)["outcome"] == "succeeded"
    assert ("shop", "0002_note") not in applied(vendor, server, name)
    assert ("shop", "0001_initial") in applied(vendor, server, name)
    assert schema_dump(vendor, server, name) == at_initial
    last = project.history()[0]
    assert [(m["name"], m["outcome"], m["backwards"]) for m in last["migrations"]] == [
        ("0002_note", "unapplied", True)]


def test_failed_backwards_deploy_reapplies_what_it_unapplied(deployable):
    project, vendor, server, name = deployable
    project.migration("0002_note", ADD_NOTE)
    project.migration("0003_marker", BROKEN_REVERSE)
    project.migration("0004_memo", SECOND_NOTE)
    project.models(NOTE_FIELDS + "\n    memo = models.CharField(max_length=20, null=True)")
    assert project.deploy("--fail-on", "never").code == 0
    before = schema_dump(vendor, server, name)
    before_applied = applied(vendor, server, name)

    result = project.deploy("--target", "shop", "0002_note", "--fail-on", "never")

    assert result.code == 3, result.out + result.err
    assert "back at its pre-deploy state" in result.out
    assert schema_dump(vendor, server, name) == before
    assert applied(vendor, server, name) == before_applied


def test_plan_estimates_each_migration_from_its_last_run(deployable):
    project, vendor, server, name = deployable
    project.migration("0002_note", ADD_NOTE)
    project.models(NOTE_FIELDS)
    assert project.deploy().code == 0
    recorded = {m["name"]: m["duration_s"] for m in project.history()[0]["migrations"]}
    # Unapply both, so that the plan applies them again; the estimate is the last forward run.
    assert project.deploy("--target", "shop", "zero").code == 0

    shown = project.run("plan", "--format", "json")
    text = project.run("plan", "--no-sql")

    assert shown.code == 0, shown.out + shown.err
    estimates = {m["name"]: m["estimated_s"] for m in json.loads(shown.out)["migrations"]}
    assert estimates == {"0001_initial": recorded["0001_initial"], "0002_note": recorded["0002_note"]}
    assert "last time" in text.out



def test_backwards_target_that_loses_data_needs_consent(deployable):
    """E2 for `deploy --target`: unapplying a column that holds values is refused without --accept-data-loss."""
    from tests.pipeline.inspect_db import query

    project, vendor, server, name = deployable
    project.migration("0002_note", ADD_NOTE)
    project.models(NOTE_FIELDS)
    assert project.deploy().code == 0
    query(vendor, server, name, "INSERT INTO shop_invoice (number, amount, note) VALUES ('a', 1, 'kept'),"
                                " ('b', 2, 'kept too')")

    refused = project.deploy("--target", "shop", "0001_initial")
    still = applied(vendor, server, name)
    accepted = project.deploy("--target", "shop", "0001_initial", "--accept-data-loss")

    assert refused.code == 1, refused.out + refused.err
    assert "loses data" in refused.out and "(2 non-null values)" in refused.out, refused.out
    assert "--accept-data-loss" in refused.out
    assert ("shop", "0002_note") in still
    assert accepted.code == 0, accepted.out + accepted.err
    assert ("shop", "0002_note") not in applied(vendor, server, name)
