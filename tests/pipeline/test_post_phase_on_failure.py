"""A failing check after `pilot deploy --phase post` triggers --on-failure: restore, exact rollback, or why not."""

from __future__ import annotations

import shlex
import sys
import textwrap

import pytest

from tests.pipeline.inspect_db import applied, query, schema_dump
from tests.pipeline.project import ADD_NOTE, NOTE_FIELDS
from tests.pipeline.test_phases import AFTER_DROP, DROP_AMOUNT

NOTE_INDEX = '''
from django.db import migrations, models


class Migration(migrations.Migration):
    deploy_phase = "post"
    dependencies = [("shop", "0002_note")]
    operations = [migrations.AddIndex("invoice", models.Index(fields=["note"], name="invoice_note_idx"))]
'''

# The check: optionally writes a row as the application would (on its own connection), then exits with `code`.
CHECK = '''
import os, sys
sys.path.insert(0, {root!r})
os.environ["DJANGO_SETTINGS_MODULE"] = "settings"
import django
django.setup()
from django.db import connection
if {write!r}:
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO shop_invoice (number, note) VALUES ('written by the app', 'x')")
connection.close()
sys.exit({code})
'''


@pytest.fixture(params=["sqlite", "postgresql", "mysql"])
def vendor(request):
    return request.param


def check(project, *, code=7, write=False):
    script = project.root / f"check_{code}_{int(write)}.py"
    script.write_text(textwrap.dedent(CHECK.format(root=str(project.root), write=write, code=code)))
    return shlex.join([sys.executable, str(script)])


INDEXED = (NOTE_FIELDS + "\n\n    class Meta:\n"
           "        indexes = [models.Index(fields=['note'], name='invoice_note_idx')]")
DROPPED = "number = models.CharField(max_length=30)\n    note = models.CharField(max_length=50, null=True)"


def pre_deployed(project, post, models=DROPPED):
    """0002 (pre) deployed; `post` (post-deploy migrations by name) written and waiting."""
    assert project.deploy().code == 0
    project.migration("0002_note", ADD_NOTE)
    for name, text in post.items():
        project.migration(name, text)
    project.models(models)
    pre = project.deploy("--phase", "pre")
    assert pre.code == 0, pre.out + pre.err


def post_phase(project, *args):
    return project.run("deploy", "--retry-delay", "0.1s", "--phase", "post", *args)


def test_exact_post_phase_is_rolled_back_when_its_check_fails(deployable):
    project, vendor, server, name = deployable
    pre_deployed(project, {"0003_note_index": NOTE_INDEX}, INDEXED)
    schema = schema_dump(vendor, server, name)

    result = post_phase(project, "--no-backup", "--check", check(project))
    runs = project.history()

    assert result.code == 3, result.out + result.err
    assert result.out.strip().splitlines()[-1].startswith(
        "Post-deploy check failed after the post phase: check ")
    assert "Rolled back shop.0003_note_index (run #" in result.out
    assert "the database is back at its state before the post phase" in result.out
    assert ("shop", "0003_note_index") not in applied(vendor, server, name)
    assert schema_dump(vendor, server, name) == schema
    post_run = next(r for r in runs if r["kind"] == "deploy" and ["shop", "0003_note_index"] in r["plan"])
    assert post_run["outcome"] == "rolled_back"


def test_lossy_post_phase_is_left_as_is_saying_why(deployable):
    project, vendor, server, name = deployable
    pre_deployed(project, {"0003_drop_amount": DROP_AMOUNT, "0004_after": AFTER_DROP})
    failing = check(project)

    result = post_phase(project, "--no-backup", "--check", failing)

    assert result.code == 4, result.out + result.err
    assert result.out.strip().splitlines()[-1] == (
        f"Post-deploy check failed after the post phase: check {failing!r} exited 7. Left as is: applied"
        " shop.0003_drop_amount, shop.0004_after (undo with 'pilot rollback').")
    assert ("Not undone (--on-failure rollback): the reverse of shop.0003_drop_amount (RemoveField: lossy"
            in result.out)
    assert ("shop", "0004_after") in applied(vendor, server, name)


def test_post_phase_is_restored_from_its_backup_when_its_check_fails(deployable):
    project, vendor, server, name = deployable
    pre_deployed(project, {"0003_drop_amount": DROP_AMOUNT, "0004_after": AFTER_DROP})
    query(vendor, server, name, "INSERT INTO shop_invoice (number, amount) VALUES ('kept', 42)")
    schema = schema_dump(vendor, server, name)

    # MariaDB counts writes per server, which other tests share: there the check can only answer "cannot tell"
    # (its refusal is the next test), so this one consents.
    consent = ["--discard-writes"] if vendor == "mysql" else []
    result = post_phase(project, "--on-failure", "restore", *consent, "--check", check(project))
    rows = query(vendor, server, name, "SELECT number, amount FROM shop_invoice")
    runs = project.history()
    again = project.deploy("--phase", "post")

    assert result.code == 3, result.out + result.err
    assert "Restored backup " in result.out and "(taken before the post phase)" in result.out
    assert "the database is back at its state before the post phase" in result.out
    assert rows == [("kept", 42)]
    post_run = next(r for r in runs if r["kind"] == "deploy" and ["shop", "0004_after"] in r["plan"])
    assert post_run["outcome"] == "restored"
    assert again.code == 0 and "Found interrupted" not in again.out, again.out + again.err
    assert schema != schema_dump(vendor, server, name)  # the post phase went through the second time


def test_restore_after_the_post_phase_refuses_to_discard_the_applications_writes(deployable):
    project, vendor, server, name = deployable
    pre_deployed(project, {"0003_drop_amount": DROP_AMOUNT, "0004_after": AFTER_DROP})

    refused = post_phase(project, "--on-failure", "restore", "--check", check(project, write=True))
    still = applied(vendor, server, name)
    assert project.run("rollback", "--accept-data-loss", "--no-backup").code == 0
    app_rows = "SELECT count(*) FROM shop_invoice WHERE number = 'written by the app'"
    kept = query(vendor, server, name, app_rows)  # the first run's, in the backup the second run takes
    consented = post_phase(project, "--on-failure", "restore", "--discard-writes",
                           "--check", check(project, write=True))

    assert refused.code == 4, refused.out + refused.err
    assert "Not restored: Refusing to restore backup" in refused.out
    assert "--discard-writes" in refused.out.strip().splitlines()[-1]
    assert ("shop", "0004_after") in still
    assert consented.code == 3, consented.out + consented.err
    assert ("shop", "0004_after") not in applied(vendor, server, name)
    assert kept == [(1,)] and query(vendor, server, name, app_rows) == [(1,)]  # the second run's is discarded
