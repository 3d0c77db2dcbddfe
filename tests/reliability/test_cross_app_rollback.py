"""E4: a rollback covers exactly what the run applied, across apps, in reverse order, and nothing earlier.

shop.0001 is applied beforehand. The run applies shop.0002 and billing.0001 (which depends on it), then
fails in billing.0002: the deploy's rollback unapplies billing.0001, then shop.0002, and leaves shop.0001.
Later `pilot rollback` of a successful run of both apps does the same.
"""

from __future__ import annotations

from tests.pipeline.inspect_db import applied, schema_dump
from tests.pipeline.project import ADD_NOTE, NOTE_FIELDS

CHARGE = '''
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True
    dependencies = [("shop", "0002_note")]
    operations = [
        migrations.CreateModel(
            name="Charge",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("cents", models.IntegerField(default=0)),
            ],
        ),
    ]
'''
BROKEN = '''
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("billing", "0001_initial")]
    operations = [migrations.RunSQL("SELECT * FROM table_that_does_not_exist", migrations.RunSQL.noop)]
'''


def add_billing(project):
    app = project.root / "billing"
    (app / "migrations").mkdir(parents=True)
    (app / "__init__.py").write_text("")
    (app / "migrations" / "__init__.py").write_text("")
    (app / "migrations" / "0001_initial.py").write_text(CHARGE.lstrip())
    (app / "models.py").write_text("from django.db import models\n\n\nclass Charge(models.Model):\n"
                                   "    cents = models.IntegerField(default=0)\n")
    settings = project.root / "settings.py"
    settings.write_text(settings.read_text().replace('["migration_pilot", "shop"]',
                                                     '["migration_pilot", "shop", "billing"]'))


def ours(keys):
    return [key for key in keys if key[0] in {"shop", "billing"}]


def test_rollback_undoes_this_runs_migrations_across_apps_in_reverse_order(deployable):
    project, vendor, server, name = deployable
    assert project.deploy().code == 0
    before_schema, before = schema_dump(vendor, server, name), ours(applied(vendor, server, name))
    project.migration("0002_note", ADD_NOTE)
    project.models(NOTE_FIELDS)
    add_billing(project)
    broken = project.root / "billing" / "migrations" / "0002_broken.py"
    broken.write_text(BROKEN.lstrip())

    failed = project.deploy("--fail-on", "never")
    failed_run = project.history()[0]
    after_failure = ours(applied(vendor, server, name))
    schema_after_failure = schema_dump(vendor, server, name)
    broken.unlink()
    deployed = project.deploy("--fail-on", "never")
    rolled_back = project.run("rollback", "--no-backup")
    rollback_run = project.history()[0]

    assert failed.code == 3, failed.out + failed.err
    assert [(m["app"], m["name"], m["outcome"]) for m in failed_run["migrations"]] == [
        ("shop", "0002_note", "applied"), ("billing", "0001_initial", "applied"), ("billing", "0002_broken", "failed"),
        ("billing", "0001_initial", "unapplied"), ("shop", "0002_note", "unapplied")]
    assert after_failure == before == [("shop", "0001_initial")]
    assert schema_after_failure == before_schema
    assert deployed.code == 0, deployed.out + deployed.err
    assert rolled_back.code == 0, rolled_back.out + rolled_back.err
    assert rollback_run["kind"] == "rollback"
    assert [(m["app"], m["name"], m["outcome"]) for m in rollback_run["migrations"]] == [
        ("billing", "0001_initial", "unapplied"), ("shop", "0002_note", "unapplied")]
    assert ours(applied(vendor, server, name)) == [("shop", "0001_initial")]
    assert schema_dump(vendor, server, name) == before_schema
