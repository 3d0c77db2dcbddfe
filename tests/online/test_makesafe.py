"""`pilot makesafe`: the flagged operations become their online twins; the schema they give is the original's."""

from __future__ import annotations

from tests.databases import admin_connection, scratch_database
from tests.pipeline.project import DeployProject, database_settings

UNSAFE = '''
from django.db import migrations, models


def mark(apps, schema_editor):
    # Touch nothing; here to show the function survives the rewrite.
    pass


class Migration(migrations.Migration):
    dependencies = [("shop", "0001_initial")]
    operations = [
        # The index the reports need.
        migrations.AddIndex("invoice", models.Index(fields=["amount"], name="amount_idx")),
        migrations.AlterField("invoice", "number", models.CharField(max_length=30, unique=True)),
        migrations.RunPython(mark, migrations.RunPython.noop),
    ]
'''

MODELS = ("number = models.CharField(max_length=30, unique=True)\n    amount = models.IntegerField(default=0)\n\n"
          "    class Meta:\n        indexes = [models.Index(fields=['amount'], name='amount_idx')]")


def _schema(server, name):
    with admin_connection(server, name) as conn:
        return sorted(conn.execute(
            "SELECT pg_get_indexdef(indexrelid) FROM pg_index WHERE indrelid = 'shop_invoice'::regclass"
            " UNION ALL SELECT conname || ' ' || pg_get_constraintdef(oid) || convalidated::text FROM pg_constraint"
            " WHERE conrelid = 'shop_invoice'::regclass").fetchall())


def _project(tmp_path, server, name, folder):
    project = DeployProject(tmp_path / folder, database_settings("postgresql", server, name))
    assert project.deploy().code == 0
    with admin_connection(server, name) as conn:
        conn.execute("INSERT INTO shop_invoice (number, amount) SELECT 'n' || g, g FROM generate_series(1, 20000) g")
        conn.execute("ANALYZE shop_invoice")
    project.migration("0002_unsafe", UNSAFE)
    project.models(MODELS)
    return project


def test_makesafe_rewrites_flagged_operations_and_gives_the_same_schema(postgresql_server, tmp_path, scratch_db_access):
    with scratch_database(postgresql_server, "pilot_safe") as safe_db, \
            scratch_database(postgresql_server, "pilot_orig") as original_db:
        safe = _project(tmp_path, postgresql_server, safe_db, "safe")
        original = _project(tmp_path, postgresql_server, original_db, "original")

        shown = safe.run("makesafe", "shop", "0002", "--vendor", "postgresql", "--diff")
        rewritten = safe.run("makesafe", "shop", "0002", "--vendor", "postgresql")
        again = safe.run("makesafe", "shop", "0002", "--vendor", "postgresql")
        linted = safe.run("lint", "shop", "--vendor", "postgresql", "--format", "json")
        text = (safe.root / "shop" / "migrations" / "0002_unsafe.py").read_text()
        # No help from the deploy's own online form: the operations must do it themselves.
        applied_safe = safe.deploy("--no-online")
        applied_original = original.deploy("--no-online", "--fail-on", "never")
        schemas = _schema(postgresql_server, safe_db), _schema(postgresql_server, original_db)

    assert shown.code == 0 and "+        migrations.AddIndex" not in shown.out and "AddIndexOnline(" in shown.out
    assert rewritten.code == 0, rewritten.out + rewritten.err
    assert "operation 0: AddIndex -> AddIndexOnline" in rewritten.out
    assert "operation 1: AlterField -> AlterFieldOnline" in rewritten.out
    assert "RunPython in this migration now run(s) outside a transaction" in rewritten.out
    assert "nothing to rewrite" in again.out
    assert "from migration_pilot.operations import AddIndexOnline, AlterFieldOnline\n" in text
    assert "    atomic = False\n" in text
    assert "# The index the reports need." in text and "def mark(apps, schema_editor):" in text
    assert '"add-index-non-concurrent"' not in linted.out and '"add-unique-non-concurrent"' not in linted.out
    assert applied_safe.code == 0, applied_safe.out + applied_safe.err
    assert applied_original.code == 0, applied_original.out + applied_original.err
    assert schemas[0] == schemas[1]


def test_makesafe_unknown_migration_is_a_one_line_error(tmp_path, scratch_db_access):
    project = DeployProject(tmp_path / "p", database_settings("sqlite", None, str(tmp_path / "db.sqlite3")))

    result = project.run("makesafe", "shop", "0099")
    unknown_app = project.run("makesafe", "nope", "0001")

    assert result.code == 2 and result.err.count("\n") == 1 and "Unknown migration target shop 0099" in result.err
    assert unknown_app.code == 2 and "Traceback" not in unknown_app.err
