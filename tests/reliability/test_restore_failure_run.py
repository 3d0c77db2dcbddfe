"""A deploy whose restore-on-failure itself fails still finishes its run (no 'running' row left behind).

The restore is made to fail for a reason other than the expected refusal to discard writes: the failing
migration damages the pre-deploy backup's archive first, so the restore refuses it (checksum) before the
target is touched.
"""

from __future__ import annotations

from tests.pipeline.inspect_db import applied, query
from tests.pipeline.project import ADD_NOTE, NOTE_FIELDS

DAMAGE_THE_BACKUP_THEN_FAIL = '''
from pathlib import Path

from django.conf import settings
from django.db import migrations


def damage_then_fail(apps, schema_editor):
    for path in Path(settings.MIGRATION_PILOT["backup_dir"]).rglob("*"):
        if path.is_file() and not path.name.endswith(".json"):
            path.write_bytes(b"damaged")
    raise RuntimeError("the migration failed on purpose")


class Migration(migrations.Migration):
    dependencies = [("shop", "0002_note")]
    operations = [migrations.RunPython(damage_then_fail, migrations.RunPython.noop)]
'''


def test_a_failed_restore_finishes_the_run_as_failed(deployable):
    project, vendor, server, name = deployable
    assert project.deploy().code == 0
    project.migration("0002_note", ADD_NOTE)
    project.migration("0003_broken", DAMAGE_THE_BACKUP_THEN_FAIL)
    project.models(NOTE_FIELDS)

    result = project.run("deploy", "--on-failure", "restore", "--retry-delay", "0.1s")

    assert result.code == 4, result.out + result.err
    assert "Traceback" not in result.out + result.err
    assert "restoring backup" in result.out + result.err and "failed too" in result.out + result.err
    runs = query(vendor, server, name, "SELECT id, outcome, finished_at FROM migration_pilot_deployrun ORDER BY id")
    assert [outcome for _id, outcome, _f in runs] == ["succeeded", "failed"], runs
    assert all(finished is not None for _id, _o, finished in runs), runs
    # Nothing was restored over the database: 0002 (its own transaction) stays applied, as the message says.
    assert ("shop", "0002_note") in applied(vendor, server, name)
    later = project.history()
    assert [run["outcome"] for run in later][:2] in (["failed", "succeeded"], ["succeeded", "failed"])
    # The next deploy sees no interrupted run to "complete".
    again = project.deploy("--dry-run")
    assert "interrupted" not in again.out.lower(), again.out
