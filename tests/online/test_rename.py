"""A column renamed by expand/contract: both names work until the post-deploy contract; the end is RENAME COLUMN's."""

from __future__ import annotations

from tests.databases import admin_connection, scratch_database
from tests.pipeline.project import DeployProject, database_settings

NOTE = '''
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("shop", "0001_initial")]
    operations = [migrations.AddField("invoice", "note", models.CharField(max_length=50, null=True, db_index=True))]
'''

RENAME = '''
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("shop", "0002_note")]
    operations = [migrations.RenameField("invoice", "note", "remark")]
'''

FIELDS = ("number = models.CharField(max_length=30)\n    amount = models.IntegerField(default=0)\n"
          "    {name} = models.CharField(max_length=50, null=True, db_index=True)")


def _project(tmp_path, server, name, folder):
    project = DeployProject(tmp_path / folder, database_settings("postgresql", server, name))
    project.migration("0002_note", NOTE)
    project.models(FIELDS.format(name="note"))
    assert project.deploy().code == 0
    with admin_connection(server, name) as conn:
        conn.execute("INSERT INTO shop_invoice (number, amount, note) SELECT 'n' || g, g, 'x' || g"
                     " FROM generate_series(1, 3000) g")
    project.migration("0003_rename", RENAME)
    project.models(FIELDS.format(name="remark"))
    return project


def _schema(server, name):
    with admin_connection(server, name) as conn:
        return (sorted(conn.execute("SELECT pg_get_indexdef(indexrelid) FROM pg_index"
                                    " WHERE indrelid = 'shop_invoice'::regclass").fetchall()),
                sorted(conn.execute("SELECT attname, format_type(atttypid, atttypmod), attnotnull FROM pg_attribute"
                                    " WHERE attrelid = 'shop_invoice'::regclass AND attnum > 0"
                                    " AND NOT attisdropped").fetchall()))


def test_rename_by_expand_and_contract_keeps_the_old_code_working(postgresql_server, tmp_path, scratch_db_access):
    server = postgresql_server
    with scratch_database(server, "pilot_rename") as safe_db, scratch_database(server, "pilot_rename_o") as plain_db:
        safe = _project(tmp_path, server, safe_db, "safe")
        plain = _project(tmp_path, server, plain_db, "plain")

        rewritten = safe.run("makesafe", "shop", "0003", "--vendor", "postgresql")
        pre = safe.deploy("--phase", "pre")
        with admin_connection(server, safe_db) as conn:
            conn.execute("INSERT INTO shop_invoice (number, amount, note) VALUES ('old code', 1, 'from old')")
            conn.execute("INSERT INTO shop_invoice (number, amount, remark) VALUES ('new code', 2, 'from new')")
            conn.execute("UPDATE shop_invoice SET note = 'edited by old' WHERE number = 'n7'")
            conn.execute("UPDATE shop_invoice SET remark = 'edited by new' WHERE number = 'n8'")
            both = conn.execute("SELECT count(*) FROM shop_invoice WHERE note IS DISTINCT FROM remark").fetchone()
            rows = dict(conn.execute("SELECT number, remark FROM shop_invoice WHERE number IN"
                                     " ('old code', 'new code', 'n7', 'n8', 'n3000')").fetchall())
        post = safe.deploy("--phase", "post")
        assert plain.deploy("--fail-on", "never", "--no-online").code == 0
        schemas = _schema(server, safe_db), _schema(server, plain_db)
        with admin_connection(server, safe_db) as conn:
            kept = dict(conn.execute("SELECT number, remark FROM shop_invoice WHERE number IN ('n7', 'n8')").fetchall())

    assert rewritten.code == 0, rewritten.out + rewritten.err
    assert "operation 0: RenameField -> RenameFieldOnline" in rewritten.out and "0003_rename_contract.py" in rewritten.out
    assert pre.code == 0, pre.out + pre.err
    assert "Holding back 1 post-deploy migration(s)" in pre.out
    assert both == (0,)
    assert rows == {"old code": "from old", "new code": "from new", "n7": "edited by old", "n8": "edited by new",
                    "n3000": "x3000"}
    assert post.code == 0, post.out + post.err
    assert schemas[0] == schemas[1]  # the same columns and the same index names as RENAME COLUMN
    assert kept == {"n7": "edited by old", "n8": "edited by new"}
