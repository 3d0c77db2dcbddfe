"""A table renamed with its old name left as an updatable view: the old code works until the post-deploy contract."""

from __future__ import annotations

from tests.databases import admin_connection, scratch_database
from tests.pipeline.project import DeployProject, database_settings

RENAME = '''
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("shop", "0001_initial")]
    operations = [migrations.RenameModel("Invoice", "Bill")]
'''

BILL = ("from django.db import models\n\n\nclass Bill(models.Model):\n    number = models.CharField(max_length=30)\n"
        "    amount = models.IntegerField(default=0)\n")


def _project(tmp_path, server, name, folder):
    project = DeployProject(tmp_path / folder, database_settings("postgresql", server, name))
    assert project.deploy().code == 0
    with admin_connection(server, name) as conn:
        # above the plan's small-table threshold, with statistics that say so (the gate judges live sizes)
        conn.execute("INSERT INTO shop_invoice (number, amount) SELECT 'n' || g, g FROM generate_series(1, 12000) g")
        conn.execute("ANALYZE shop_invoice")
    project.migration("0002_rename", RENAME)
    (project.root / "shop" / "models.py").write_text(BILL)
    return project


def _relations(server, name):
    with admin_connection(server, name) as conn:
        return (dict(conn.execute("SELECT relname, relkind FROM pg_class WHERE relname IN ('shop_invoice',"
                                  " 'shop_bill')").fetchall()),
                sorted(conn.execute("SELECT attname, format_type(atttypid, atttypmod), attnotnull, attidentity"
                                    " FROM pg_attribute WHERE attrelid = 'shop_bill'::regclass AND attnum > 0"
                                    " AND NOT attisdropped").fetchall()))


def test_table_rename_keeps_the_old_name_working_until_the_contract(postgresql_server, tmp_path, scratch_db_access):
    server = postgresql_server
    with scratch_database(server, "pilot_trename") as safe_db, scratch_database(server, "pilot_trename_p") as plain_db:
        safe = _project(tmp_path, server, safe_db, "safe")
        plain = _project(tmp_path, server, plain_db, "plain")

        refused = safe.deploy()
        rewritten = safe.run("makesafe", "shop", "0002", "--vendor", "postgresql")
        contract = (safe.root / "shop" / "migrations" / "0002_rename_contract.py").read_text()
        pre = safe.deploy("--phase", "pre")
        with admin_connection(server, safe_db) as conn:  # the old code, on the old name
            (old_id,) = conn.execute("INSERT INTO shop_invoice (number, amount) VALUES ('old code', 0) RETURNING id").fetchone()
            conn.execute("UPDATE shop_invoice SET amount = -1 WHERE number = 'n7'")
            conn.execute("DELETE FROM shop_invoice WHERE number = 'n8'")
            locked = conn.execute("SELECT amount FROM shop_invoice WHERE number = 'n9' FOR UPDATE").fetchone()
            (new_id,) = conn.execute("INSERT INTO shop_bill (number, amount) VALUES ('new code', 0) RETURNING id").fetchone()
            seen = dict(conn.execute("SELECT number, amount FROM shop_bill WHERE number IN"
                                     " ('old code', 'new code', 'n7', 'n8')").fetchall())
        middle = _relations(server, safe_db)
        post = safe.deploy("--phase", "post")
        assert plain.deploy("--fail-on", "never", "--no-online").code == 0
        ends = _relations(server, safe_db), _relations(server, plain_db)

    assert refused.code == 1 and "rename-table" in refused.out
    assert rewritten.code == 0, rewritten.out + rewritten.err
    assert "operation 0: RenameModel -> RenameModelOnline" in rewritten.out
    assert "atomic = False" not in rewritten.out  # the rename and its view go in one transaction
    assert "RenameTableContract([['shop_invoice', 'shop_bill']])" in contract
    assert pre.code == 0, pre.out + pre.err
    assert middle[0] == {"shop_invoice": "v", "shop_bill": "r"}
    assert new_id == old_id + 1 and locked == (9,)
    assert seen == {"old code": 0, "new code": 0, "n7": -1}
    assert post.code == 0, post.out + post.err
    assert ends[0] == ends[1] and ends[0][0] == {"shop_bill": "r"}


def test_table_rename_goes_back_with_rollback(postgresql_server, tmp_path, scratch_db_access):
    with scratch_database(postgresql_server, "pilot_trename_r") as name:
        project = _project(tmp_path, postgresql_server, name, "project")
        assert project.run("makesafe", "shop", "0002", "--vendor", "postgresql").code == 0
        assert project.deploy("--phase", "pre").code == 0

        back = project.run("rollback", "--no-backup")  # an exact reverse: no consent needed
        with admin_connection(postgresql_server, name) as conn:
            kinds = dict(conn.execute("SELECT relname, relkind FROM pg_class WHERE relname IN ('shop_invoice',"
                                      " 'shop_bill')").fetchall())
            rows = conn.execute("SELECT count(*) FROM shop_invoice").fetchone()

    assert back.code == 0, back.out + back.err
    assert kinds == {"shop_invoice": "r"} and rows == (12000,)
