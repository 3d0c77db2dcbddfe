"""D5: a squash met by a database that applied only part of the migrations it replaces.

0002_note and 0003_index are squashed into 0002_squashed_0003 while a
database has 0002_note applied and not 0003_index. The deploy must finish the
replaced migrations (not run the squash over a half-applied schema) and then
record the squash as `migrate` does; a rollback to the replaced node 0002_note
must undo exactly 0003_index. Deleting the replaced files while such a
database exists must be refused in one line, before anything changes; a
migration that still depends on a replaced node is warned about (D2).
"""

from __future__ import annotations

from tests.pipeline.inspect_db import applied, schema_dump
from tests.pipeline.project import ADD_NOTE, NOTE_FIELDS
from tests.pipeline.test_deploy_verify import INDEXED, SQUASHED

INDEXED_MODELS = (NOTE_FIELDS + "\n\n    class Meta:\n        indexes = [models.Index(fields=['number'],"
                  " name='invoice_number_idx')]")


def test_partly_applied_squash_is_finished_and_rolled_back_to_a_replaced_node(deployable):
    project, vendor, server, name = deployable
    project.migration("0002_note", ADD_NOTE)
    project.models(NOTE_FIELDS)
    assert project.deploy().code == 0
    at_note = schema_dump(vendor, server, name)
    project.migration("0003_index", INDEXED)
    project.migration("0002_squashed_0003", SQUASHED)
    project.models(INDEXED_MODELS)

    result = project.deploy("--fail-on", "never")

    assert result.code == 0, result.out + result.err
    assert "Applying shop.0003_index" in result.out and "Applying shop.0002_squashed_0003" not in result.out
    recorded = set(applied(vendor, server, name))
    assert {("shop", "0002_note"), ("shop", "0003_index"), ("shop", "0002_squashed_0003")} <= recorded
    assert project.run("verify").code == 0

    back = project.run("rollback", "--to", "shop", "0002_note", "--no-backup")

    assert back.code == 0, back.out + back.err
    recorded = set(applied(vendor, server, name))
    assert ("shop", "0002_note") in recorded and ("shop", "0003_index") not in recorded
    assert ("shop", "0002_squashed_0003") not in recorded
    assert schema_dump(vendor, server, name) == at_note


def test_replaced_files_deleted_under_a_partly_applied_database_are_refused(deployable):
    project, vendor, server, name = deployable
    project.migration("0002_note", ADD_NOTE)
    project.models(NOTE_FIELDS)
    assert project.deploy().code == 0
    before = schema_dump(vendor, server, name)
    before_applied = applied(vendor, server, name)
    (project.root / "shop" / "migrations" / "0002_note.py").unlink()
    project.migration("0002_squashed_0003", SQUASHED)
    project.models(INDEXED_MODELS)

    result = project.deploy("--fail-on", "never")

    assert result.code == 1, result.out + result.err
    assert "Traceback" not in result.out + result.err
    assert ("Refused: shop.0002_squashed_0003 replaces 2 migration(s), of which this database applied 1, and"
            " shop.0002_note, shop.0003_index are no longer on disk; restore the replaced files") in result.out
    assert schema_dump(vendor, server, name) == before
    assert applied(vendor, server, name) == before_applied


LATER = """
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("shop", "0003_index")]
    operations = [migrations.RunSQL("SELECT 1", migrations.RunSQL.noop)]
"""


def test_dependency_on_a_replaced_migration_is_warned(deployable):
    """D2: a later migration still naming a node the squash replaced works today and breaks once it goes."""
    project, vendor, server, name = deployable
    project.migration("0002_note", ADD_NOTE)
    project.migration("0003_index", INDEXED)
    project.migration("0002_squashed_0003", SQUASHED)
    project.migration("0004_later", LATER)
    project.models(INDEXED_MODELS)

    result = project.deploy("--fail-on", "never")

    assert result.code == 0, result.out + result.err
    assert ("Warning: shop.0004_later depends on shop.0003_index, which shop.0002_squashed_0003 replaces; point"
            " the dependency at the squash") in result.out, result.out
    assert ("shop", "0004_later") in applied(vendor, server, name)
