"""A throwaway project (app `shop`, model Invoice with a counter) for `pilot backfill` end to end."""

from __future__ import annotations

import subprocess
import sys

from tests.pipeline.inspect_db import query
from tests.pipeline.project import DeployProject

COUNTER = '''
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("shop", "0001_initial")]
    operations = [migrations.AddField("invoice", "n", models.IntegerField(default=0))]
'''

BACKFILL = '''
from django.db import migrations
from django.db.models import F

from migration_pilot.operations import Backfill


class Migration(migrations.Migration):
    atomic = {atomic}
    dependencies = [("shop", "0002_counter"), ("migration_pilot", "0004_backfill_checkpoint")]
    operations = [Backfill("invoice", set={{"n": F("n") + 1}}, batch_size=100, min_batch_size=100, max_batch_size=100)]
'''

MODELS = ("number = models.CharField(max_length=30)\n    amount = models.IntegerField(default=0)\n"
          "    n = models.IntegerField(default=0)\n\n\n"
          "class Pair(models.Model):\n    pk = models.CompositePrimaryKey('a', 'b')\n"
          "    a = models.IntegerField()\n    b = models.IntegerField()\n\n    class Meta:\n        managed = False\n")

FILL = '''
def fill(invoice):
    invoice.number = "N-%d" % invoice.id
    invoice.n += 1
'''


def counter_project(root, database, vendor, server, name, *, rows: int, atomic: bool = False) -> DeployProject:
    """shop at 0002 (Invoice with n = 0 in `rows` rows) and 0003 holding a Backfill of n = n + 1, unapplied."""
    project = DeployProject(root, database)
    project.models(MODELS)
    project.migration("0002_counter", COUNTER)
    (project.root / "shop" / "fill.py").write_text(FILL)
    migrate(project, "shop", "0002")
    migrate(project, "migration_pilot")
    project.migration("0003_fill", BACKFILL.format(atomic=atomic))
    insert_rows(vendor, server, name, rows)
    return project


def migrate(project: DeployProject, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Django's own migrate in the project (not the deploy pipeline)."""
    done = subprocess.run([sys.executable, "-m", "django", "migrate", *args, "--settings", "settings",
                           "--pythonpath", str(project.root)], cwd=project.root, capture_output=True,
                          text=True, env=project.env(), timeout=120, check=False)
    if check:
        assert done.returncode == 0, done.stdout + done.stderr
    return done


def insert_rows(vendor, server, name, rows: int) -> None:
    values = ", ".join(f"('N{i}', {i % 7}, 0)" for i in range(rows))
    query(vendor, server, name, f"INSERT INTO shop_invoice (number, amount, n) VALUES {values}")
