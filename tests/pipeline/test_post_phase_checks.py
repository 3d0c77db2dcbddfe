"""`pilot deploy --check` runs last in every phase: after --phase post's migrations and dropped defaults too."""

from __future__ import annotations

import shlex
import sys
import textwrap

import pytest

from tests.pipeline.inspect_db import applied
from tests.pipeline.project import ADD_NOTE
from tests.pipeline.test_phases import AFTER_DROP, DROP_AMOUNT

# Run by the check: what the database looks like while the check runs, written to a file.
PROBE = '''
import json, os, sys
sys.path.insert(0, {root!r})
os.environ["DJANGO_SETTINGS_MODULE"] = "settings"
import django
django.setup()
from django.db import connection
from django.db.migrations.recorder import MigrationRecorder
applied = sorted(MigrationRecorder(connection).applied_migrations())
default = None
if connection.vendor == "postgresql":
    with connection.cursor() as cursor:
        cursor.execute("SELECT column_default FROM information_schema.columns"
                       " WHERE table_name = 'shop_invoice' AND column_name = 'qty'")
        row = cursor.fetchone()
        default = row[0] if row else None
with open({out!r}, "w") as out:
    json.dump({{"applied": applied, "qty_default": default}}, out)
sys.exit({code})
'''


def probe(project, out, code=0):
    script = project.root / f"probe_{code}.py"
    script.write_text(textwrap.dedent(PROBE.format(root=str(project.root), out=str(out), code=code)))
    return shlex.join([sys.executable, str(script)])


def seen(out):
    import json

    return json.loads(out.read_text())


def phased(project):
    """0002 (pre) deployed; 0003 and 0004 (post) waiting for --phase post."""
    assert project.deploy().code == 0
    project.migration("0002_note", ADD_NOTE)
    project.migration("0003_drop_amount", DROP_AMOUNT)
    project.migration("0004_after", AFTER_DROP)
    project.models("number = models.CharField(max_length=30)\n    note = models.CharField(max_length=50, null=True)")
    pre = project.deploy("--phase", "pre")
    assert pre.code == 0, pre.out + pre.err


def test_post_phase_runs_the_check_after_its_migrations(deployable, tmp_path):
    project, vendor, server, name = deployable
    phased(project)
    out = tmp_path / "seen.json"

    result = project.deploy("--phase", "post", "--check", probe(project, out))

    assert result.code == 0, result.out + result.err
    assert "Check passed" in result.out
    assert ["shop", "0004_after"] in seen(out)["applied"]


def test_failing_check_after_the_post_phase_leaves_it_applied_and_exits_4(deployable, tmp_path):
    project, vendor, server, name = deployable
    phased(project)
    check = probe(project, tmp_path / "seen.json", code=7)

    result = project.deploy("--phase", "post", "--check", check)

    assert result.code == 4, result.out + result.err
    assert result.out.strip().splitlines()[-1] == (
        f"Post-deploy check failed after the post phase: check {check!r} exited 7. Left as is: applied"
        " shop.0003_drop_amount, shop.0004_after (undo with 'pilot rollback').")
    assert ("shop", "0004_after") in applied(vendor, server, name)
    run = project.history()[0]
    assert run["outcome"] == "failed" and "exited 7" in run["error"]


@pytest.mark.parametrize("vendor", ["sqlite"])  # when the check runs, not how the database behaves
def test_post_phase_with_nothing_to_do_still_runs_the_check(deployable, tmp_path):
    project, vendor, server, name = deployable
    phased(project)
    assert project.deploy("--phase", "post").code == 0
    failing = probe(project, tmp_path / "seen.json", code=7)

    passed = project.deploy("--phase", "post", "--check", probe(project, tmp_path / "ok.json"))
    failed = project.deploy("--phase", "post", "--check", failing)

    assert passed.code == 0 and "Check passed" in passed.out, passed.out + passed.err
    assert failed.code == 3, failed.out + failed.err
    assert failed.out.strip().splitlines()[-1] == (
        f"Post-deploy check failed: check {failing!r} exited 7. The post phase changed nothing.")


@pytest.mark.parametrize("vendor", ["sqlite"])
def test_nothing_to_deploy_still_runs_the_check(deployable, tmp_path):
    project, vendor, server, name = deployable
    assert project.deploy().code == 0
    failing = probe(project, tmp_path / "seen.json", code=7)

    passed = project.deploy("--check", probe(project, tmp_path / "ok.json"))
    failed = project.deploy("--check", failing)

    assert passed.code == 0 and "Check passed" in passed.out, passed.out + passed.err
    assert (tmp_path / "ok.json").exists()
    assert failed.code == 3, failed.out + failed.err
    assert failed.out.strip().splitlines()[-1] == (
        f"Nothing to deploy, but the post-deploy check {failing!r} exited 7; nothing was changed.")


QTY = '''
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("shop", "0001_initial")]
    operations = [migrations.AddField("invoice", "qty", models.IntegerField(default=1))]
'''


def test_post_phase_check_runs_after_the_kept_defaults_are_dropped(pg_deployed, tmp_path):
    project, server, name = pg_deployed
    project.migration("0002_qty", QTY)
    project.models("number = models.CharField(max_length=30)\n    amount = models.IntegerField(default=0)\n"
                   "    qty = models.IntegerField(default=1)")
    deployed = project.deploy()
    out = tmp_path / "seen.json"
    assert deployed.code == 0 and "kept the database default of shop_invoice.qty" in deployed.out, deployed.out

    post = project.deploy("--phase", "post", "--check", probe(project, out))

    assert post.code == 0, post.out + post.err
    assert post.out.index("dropped the default of shop_invoice.qty") < post.out.index("Check passed")
    assert seen(out)["qty_default"] is None
