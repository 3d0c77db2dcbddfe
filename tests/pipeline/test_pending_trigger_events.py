"""B3 on PostgreSQL: "pending trigger events" from data and schema changes on one table in one migration.

Django creates foreign keys DEFERRABLE INITIALLY DEFERRED on PostgreSQL, so a
row a RunPython inserts leaves a deferred check queued until commit; an ALTER
TABLE of that table later in the same transaction is refused by the server.
The lint rule mixed-schema-and-data warns before; the failed deploy must say
what to do (split the migration), roll back whole, and apply once split.
"""

from __future__ import annotations

import pytest

from tests.pipeline.inspect_db import applied, query

LINE = '''
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("shop", "0001_initial")]
    operations = [
        migrations.CreateModel(
            name="Line",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("qty", models.IntegerField(default=0)),
                ("invoice", models.ForeignKey(on_delete=models.CASCADE, to="shop.invoice")),
            ],
        ),
    ]
'''

FILL = '''
def fill(apps, schema_editor):
    Invoice = apps.get_model("shop", "Invoice")
    Line = apps.get_model("shop", "Line")
    Line.objects.create(invoice=Invoice.objects.create(number="1"), qty=2)
'''

FILL_THEN_ALTER = FILL + '''

class Migration(migrations.Migration):
    dependencies = [("shop", "0002_line")]
    operations = [
        migrations.RunPython(fill, migrations.RunPython.noop),
        migrations.AddField("line", "note", models.CharField(max_length=20, null=True)),
    ]
'''

FILL_ONLY = FILL + '''

class Migration(migrations.Migration):
    dependencies = [("shop", "0002_line")]
    operations = [migrations.RunPython(fill, migrations.RunPython.noop)]
'''

ADD_ONLY = '''
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("shop", "0003_fill")]
    operations = [migrations.AddField("line", "note", models.CharField(max_length=20, null=True))]
'''

HEADER = "from django.db import migrations, models\n"


def _models(project, note):
    (project.root / "shop" / "models.py").write_text(
        "from django.db import models\n\n\nclass Invoice(models.Model):\n"
        "    number = models.CharField(max_length=30)\n    amount = models.IntegerField(default=0)\n\n\n"
        "class Line(models.Model):\n    qty = models.IntegerField(default=0)\n"
        + ("    note = models.CharField(max_length=20, null=True)\n" if note else "")
        +
        "    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE)\n")


@pytest.mark.parametrize("vendor", ["postgresql"])
def test_pending_trigger_events_fail_with_a_split_hint_and_apply_once_split(deployable):
    project, vendor, server, name = deployable
    project.migration("0002_line", LINE)
    _models(project, note=False)
    assert project.deploy().code == 0
    project.migration("0003_fill", HEADER + FILL_THEN_ALTER)
    _models(project, note=True)

    linted = project.run("lint", "shop", "--format", "json")
    failed = project.deploy("--fail-on", "never")

    assert "mixed-schema-and-data" in linted.out
    assert failed.code == 3, failed.out + failed.err
    assert "pending trigger events" in failed.out
    assert ("split shop.0003_fill in two: the data change in one migration, the schema change of the same"
            " table in the next") in failed.out, failed.out
    assert ("shop", "0003_fill") not in applied(vendor, server, name)
    assert query(vendor, server, name, "SELECT count(*) FROM shop_line") == [(0,)]

    project.migration("0003_fill", HEADER + FILL_ONLY)
    project.migration("0004_alter", ADD_ONLY)
    split = project.deploy("--fail-on", "never")
    assert split.code == 0, split.out + split.err
    assert query(vendor, server, name, "SELECT qty, note FROM shop_line") == [(2, None)]
