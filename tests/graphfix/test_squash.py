"""`pilot squash` and `pilot squash --finish` on real databases, proven by migrating afterwards."""

from __future__ import annotations

import pytest

from tests.databases import scratch_database
from tests.graphfix.project import BILLING, GraphProject
from tests.pipeline.project import database_settings

DATA = '''
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("shop", "0002_note")]
    operations = [
        migrations.RunSQL("UPDATE shop_invoice SET amount = 1 WHERE amount = 0", migrations.RunSQL.noop),
        migrations.RunSQL("UPDATE shop_invoice SET amount = 2 WHERE amount = 5", migrations.RunSQL.noop,
                          elidable=True),
    ]
'''

SQUASHED = "0001_initial_squashed_0004_paid"


def build(project: GraphProject, *, billing_on: str = "0002_note", shop_on_billing: bool = False) -> None:
    """shop 0001..0004 (0003 is RunSQL), billing 0001 on shop `billing_on`."""
    project.add_field("0002_note", "0001_initial", "note")
    project.migration("0003_data", DATA)
    project.add_field("0004_paid", "0003_data", "paid")
    project.migration_in("billing", "0001_initial", BILLING.format(shop=billing_on))
    if shop_on_billing:
        text = project.text("shop", "0003_data").replace(
            'dependencies = [("shop", "0002_note")]', 'dependencies = [("shop", "0002_note"), ("billing", "0001_initial")]')
        project.migration("0003_data", text)
    project.fields("note", "paid")


def sqlite_project(tmp_path) -> GraphProject:
    project = GraphProject(tmp_path / "project", database_settings("sqlite", None, str(tmp_path / "db.sqlite3")),
                           billing=True)
    build(project)
    return project


@pytest.fixture(params=["sqlite", "postgresql", "mysql"])
def squash_project(request, tmp_path, scratch_db_access):
    vendor = request.param
    if vendor == "sqlite":
        yield sqlite_project(tmp_path)
        return
    server = request.getfixturevalue(f"{vendor}_server")
    with scratch_database(server, "pilot_squash") as name:
        project = GraphProject(tmp_path / "project", database_settings(vendor, server, name), billing=True)
        build(project)
        yield project


def test_squash_then_finish_leaves_a_plain_linear_history(squash_project):
    project = squash_project
    assert project.django("migrate", "--noinput").code == 0

    squashed = project.run("squash", "shop", "0001", "0004")
    assert project.django("migrate", "--noinput").code == 0  # records the squashed migration as applied
    finished = project.run("squash", "shop", "--finish")

    assert squashed.code == 0, squashed.err
    assert "Range: shop 0001_initial..0004_paid (4 migrations)\n  database 'default': past 0004_paid\n" in squashed.out
    assert ("  0003_data: RunSQL UPDATE shop_invoice SET amount = 1 WHERE amount = 0 (not elidable: kept,"
            " and nothing is optimised across it)") in squashed.out
    assert "(elidable: dropped by the squash)" in squashed.out
    assert finished.code == 0, finished.err
    assert project.files() == [f"{SQUASHED}.py"]
    assert "replaces" not in project.text("shop", SQUASHED)
    assert f'("shop", "{SQUASHED}")' in project.text("billing", "0001_initial")
    assert project.django("migrate", "--noinput").code == 0
    assert project.django("makemigrations", "--check", "--dry-run").code == 0
    assert "[ ]" not in project.django("showmigrations").out


def test_finished_squash_builds_a_fresh_database(tmp_path):
    project = sqlite_project(tmp_path)
    project.add_field("0005_due", "0004_paid", "due")
    project.fields("note", "paid", "due")
    assert project.django("migrate", "--noinput").code == 0
    assert project.run("squash", "shop", "0004").code == 0
    assert project.django("migrate", "--noinput").code == 0
    assert project.run("squash", "shop", "--finish").code == 0
    (tmp_path / "db.sqlite3").unlink()

    fresh = project.django("migrate", "--noinput")

    assert fresh.code == 0, fresh.err
    assert project.files() == ["0001_squashed_0004_paid.py", "0005_due.py"]
    assert 'dependencies = [("shop", "0001_squashed_0004_paid")]' in project.text("shop", "0005_due")
    assert "Applying shop.0001_squashed_0004_paid... OK" in fresh.out
    assert "[X] 0001_squashed_0004_paid" in project.django("showmigrations", "shop").out


def test_refuses_while_a_database_is_inside_the_range(tmp_path):
    project = sqlite_project(tmp_path)
    assert project.django("migrate", "shop", "0002", "--noinput").code == 0

    refused = project.run("squash", "shop", "0001", "0004")

    assert refused.code == 1
    assert "Safe to squash up to 0002_note: every database that has shop's migrations is past it.\n" in refused.out
    assert refused.err == ("error: Refusing to squash shop up to 0004_paid: database 'default' is inside the range:"
                           " applied 2 of 4, up to 0002_note. Deploy it past the range first, or pass --force.\n")
    assert project.files() == ["0001_initial.py", "0002_note.py", "0003_data.py", "0004_paid.py"]


def test_finish_refuses_while_a_database_is_inside_the_range(tmp_path):
    project = sqlite_project(tmp_path)
    assert project.django("migrate", "shop", "0002", "--noinput").code == 0
    assert project.run("squash", "shop", "0001", "0004", "--force").code == 0

    refused = project.run("squash", "shop", "--finish")

    assert refused.code == 1
    assert (f"error: Cannot finish shop.{SQUASHED}: database 'default' is inside the range: applied 2 of 4"
            " replaced migrations, up to 0002_note.") in refused.err
    assert len(project.files()) == 5


def test_finish_refuses_until_migrate_records_the_squash(tmp_path):
    project = sqlite_project(tmp_path)
    assert project.django("migrate", "--noinput").code == 0
    assert project.run("squash", "shop", "0001", "0004").code == 0

    refused = project.run("squash", "shop", "--finish")

    assert refused.code == 1
    assert "has applied every replaced migration but" in refused.err and "run migrate there first" in refused.err


def test_finish_dry_run_shows_the_diff_and_deletes_nothing(tmp_path):
    project = sqlite_project(tmp_path)
    assert project.django("migrate", "--noinput").code == 0
    assert project.run("squash", "shop", "0004").code == 0
    assert project.django("migrate", "--noinput").code == 0

    shown = project.run("squash", "shop", "--finish", "--dry-run")

    assert shown.code == 0, shown.err
    assert "-    replaces = [" in shown.out and "would delete" in shown.out
    assert len(project.files()) == 5


def test_refuses_a_range_another_app_sits_inside(tmp_path):
    project = GraphProject(tmp_path / "project", database_settings("sqlite", None, str(tmp_path / "db.sqlite3")),
                           billing=True)
    build(project, shop_on_billing=True)

    result = project.run("squash", "shop", "0001", "0004")

    assert result.code == 2
    assert result.err == ("error: Cannot squash shop 0001_initial..0004_paid: 0003_data depends on billing.0001_initial,"
                          " which depends on shop.0002_note inside the range; the squashed migration would depend on"
                          " itself. Squash up to 0002_note instead, or start after 0002_note.\n")


def test_unknown_migration_and_app_are_one_line(tmp_path):
    project = sqlite_project(tmp_path)

    migration = project.run("squash", "shop", "0001", "0009")
    app = project.run("squash", "nosuchapp", "0001")

    assert migration.code == 2
    assert migration.err == ("error: Cannot find migration shop.0009: no migration of that name exists. Use a full"
                             " name or a unique prefix, e.g. 0004.\n")
    assert app.code == 2 and app.err.startswith("error: Unknown app label 'nosuchapp'")


def test_dry_run_checks_and_writes_nothing(tmp_path):
    project = sqlite_project(tmp_path)
    assert project.django("migrate", "--noinput").code == 0

    result = project.run("squash", "shop", "0001", "0004", "--dry-run")

    assert result.code == 0, result.err
    assert result.out.endswith("Nothing written (--dry-run).\n")
    assert len(project.files()) == 4


def test_refuses_to_squash_a_squashed_migration(tmp_path):
    project = sqlite_project(tmp_path)
    project.add_field("0005_due", "0004_paid", "due")
    assert project.run("squash", "shop", "0001", "0004").code == 0

    result = project.run("squash", "shop", "0005")

    assert result.code == 2
    assert result.err == ("error: The range includes shop.0001_initial_squashed_0004_paid, which is itself a squashed"
                          " migration; finish it first ('pilot squash shop --finish' once every database has applied"
                          " it).\n")


def test_finish_refuses_while_the_squash_still_uses_a_replaced_module(tmp_path):
    project = sqlite_project(tmp_path)
    assert project.django("migrate", "--noinput").code == 0
    assert project.run("squash", "shop", "0001", "0004").code == 0
    assert project.django("migrate", "--noinput").code == 0
    path = project.root / "shop" / "migrations" / f"{SQUASHED}.py"
    path.write_text('import importlib\nHELPERS = importlib.import_module("shop.migrations.0003_data")\n'
                    + path.read_text())

    result = project.run("squash", "shop", "--finish")

    assert result.code == 1
    assert result.err == (f"error: Cannot finish shop.{SQUASHED}: it still imports code from 0003_data, which would"
                          " be deleted. Copy those functions into the squashed migration first (Django's 'Manual"
                          " porting required').\n")
    assert len(project.files()) == 5
