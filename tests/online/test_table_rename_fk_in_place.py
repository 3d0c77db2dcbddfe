"""On MariaDB the online table rename re-adds the foreign keys that point to the table in place, never copying
the referencing table (foreign_key_checks = 0 lets InnoDB add them with ALGORITHM=INPLACE).

The proof is InnoDB's table id: a table rebuilt by copying is a new InnoDB table with a new id; an in-place
ALTER keeps the id. The same statement with foreign_key_checks = 1 changes it, so the measure can fail.
"""

from __future__ import annotations

from tests.databases import admin_connection, scratch_database
from tests.online.test_table_rename_mysql import MODELS, PAYMENT
from tests.pipeline.project import DeployProject, database_settings

RENAME = '''
from django.db import migrations

from migration_pilot.operations import RenameModelOnline


class Migration(migrations.Migration):
    dependencies = [("shop", "0002_payment")]
    operations = [RenameModelOnline("Invoice", "Bill")]
'''


def _table_id(server, name, table):
    with admin_connection(server, name) as conn:
        cursor = conn.cursor()
        cursor.execute("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'information_schema'"
                       " AND TABLE_NAME IN ('INNODB_SYS_TABLES', 'INNODB_TABLES')")
        (catalog,) = cursor.fetchone()  # MariaDB, MySQL 8
        cursor.execute(f"SELECT TABLE_ID FROM information_schema.{catalog} WHERE NAME = %s", [f"{name}/{table}"])
        (table_id,) = cursor.fetchone()
    return table_id


def _foreign_keys(server, name):
    with admin_connection(server, name) as conn:
        cursor = conn.cursor()
        cursor.execute("SELECT CONSTRAINT_NAME, REFERENCED_TABLE_NAME FROM information_schema.REFERENTIAL_CONSTRAINTS"
                       " WHERE CONSTRAINT_SCHEMA = %s AND TABLE_NAME = 'shop_payment'", [name])
        return cursor.fetchall()


def _copy_with_checks_on(server, name, constraint):
    with admin_connection(server, name) as conn:
        cursor = conn.cursor()
        cursor.execute("SET foreign_key_checks = 1")
        cursor.execute(f"ALTER TABLE shop_payment DROP FOREIGN KEY `{constraint}`")
        cursor.execute(f"ALTER TABLE shop_payment ADD CONSTRAINT `{constraint}` FOREIGN KEY (invoice_id)"
                       " REFERENCES shop_bill (id)")


def test_rename_re_adds_foreign_keys_without_copying_the_referencing_table(mysql_server, tmp_path):
    server = mysql_server
    with scratch_database(server, "pilot_trename_fk") as name:
        project = DeployProject(tmp_path / "project", database_settings("mysql", server, name))
        project.migration("0002_payment", PAYMENT)
        (project.root / "shop" / "models.py").write_text(MODELS.replace("Bill", "Invoice"))
        assert project.deploy().code == 0
        with admin_connection(server, name) as conn:
            cursor = conn.cursor()
            cursor.execute("INSERT INTO shop_invoice (number, amount) VALUES ('a', 1), ('b', 2)")
            cursor.execute("INSERT INTO shop_payment (paid, invoice_id) SELECT 1, id FROM shop_invoice")
        project.migration("0003_rename", RENAME)
        (project.root / "shop" / "models.py").write_text(MODELS)
        before = _table_id(server, name, "shop_payment")

        deployed = project.deploy("--phase", "pre")
        after = _table_id(server, name, "shop_payment")
        keys = _foreign_keys(server, name)
        _copy_with_checks_on(server, name, keys[0][0])
        copied = _table_id(server, name, "shop_payment")

    assert deployed.code == 0, deployed.out + deployed.err
    assert len(keys) == 1 and keys[0][1] == "shop_bill"  # re-created, pointing to the renamed table
    assert after == before  # the same InnoDB table: no copy
    assert copied != after  # the plain statement with checks on does copy: the measure sees it
