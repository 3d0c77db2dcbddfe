"""H3: a fresh install and an upgraded install converge, and `pilot verify --against` proves it.

The upgraded database gets 0001, then 0002 and 0003 one by one; the fresh one gets 0001 and the squash
that replaces 0002-0003. `pilot verify --against other` compares the two live schemas, and must be able
to fail: an index missing on one side is reported.
"""

from __future__ import annotations

import contextlib
import json

import pytest

from tests.databases import scratch_database
from tests.pipeline.inspect_db import applied, query
from tests.pipeline.project import ADD_NOTE, NOTE_FIELDS, DeployProject, database_settings

INDEXED = '''
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("shop", "0002_note")]
    operations = [
        migrations.AddIndex("invoice", models.Index(fields=["number"], name="invoice_number_idx")),
    ]
'''
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
DROP_INDEX = {"sqlite": "DROP INDEX invoice_number_idx", "postgresql": "DROP INDEX invoice_number_idx",
              "mysql": "DROP INDEX invoice_number_idx ON shop_invoice"}


@pytest.fixture(params=["sqlite", "postgresql", "mysql"])
def two_databases(request, tmp_path, scratch_db_access):
    """(project, vendor, server, default name, other name): alias 'other' is a second empty database."""
    vendor = request.param
    server = None if vendor == "sqlite" else request.getfixturevalue(f"{vendor}_server")
    with contextlib.ExitStack() as stack:
        if vendor == "sqlite":
            names = [str(tmp_path / "upgraded.sqlite3"), str(tmp_path / "fresh.sqlite3")]
        else:
            names = [stack.enter_context(scratch_database(server, "pilot_converge")) for _ in range(2)]
        project = DeployProject(tmp_path / "project", database_settings(vendor, server, names[0]))
        with open(project.root / "settings.py", "a") as settings:
            settings.write(f"DATABASES['other'] = {database_settings(vendor, server, names[1])!r}\n")
        yield project, vendor, server, names[0], names[1]


def test_fresh_and_upgraded_databases_converge_and_a_difference_is_caught(two_databases):
    project, vendor, server, upgraded, fresh = two_databases
    assert project.deploy().code == 0
    project.migration("0002_note", ADD_NOTE)
    project.migration("0003_index", INDEXED)
    project.models(NOTE_FIELDS + "\n\n    class Meta:\n        indexes = [models.Index(fields=['number'],"
                   " name='invoice_number_idx')]")
    assert project.deploy("--fail-on", "never").code == 0  # the upgrade path, one migration at a time
    project.migration("0002_squashed_0003", SQUASHED)
    again = project.deploy("--fail-on", "never")  # migrate would record the squash now (check_replacements)

    from_zero = project.deploy("--database", "other", "--fail-on", "never")
    same = project.run("verify", "--against", "other", "--format", "json")
    query(vendor, server, fresh, DROP_INDEX[vendor])
    different = project.run("verify", "--against", "other", "--format", "json")

    assert again.code == 0, again.out + again.err
    assert ("shop", "0002_squashed_0003") in applied(vendor, server, upgraded), again.out
    assert from_zero.code == 0, from_zero.out + from_zero.err
    assert "Applying shop.0002_squashed_0003" in from_zero.out  # the fresh path is the squash
    assert "Applying shop.0003_index" not in from_zero.out
    assert ("shop", "0003_index") in applied(vendor, server, upgraded)
    assert same.code == 0, same.out + same.err
    assert json.loads(same.out)["reference"] == "alias:other"
    assert different.code == 1, different.out + different.err
    assert "invoice_number_idx" in different.out
