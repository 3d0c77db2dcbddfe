"""RenameModel of a model with many-to-many fields: the through tables and their columns named after the model."""

from __future__ import annotations

from django.db import migrations, models
from django.db.migrations.state import ModelState, ProjectState

from migration_pilot.online.table_rename import TableRename, refusal, table_renames
from tests.databases import admin_connection, scratch_database
from tests.pipeline.project import DeployProject, database_settings

INITIAL = '''
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True
    dependencies = []
    operations = [
        migrations.CreateModel(
            name="Tag",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("name", models.CharField(max_length=30)),
            ],
        ),
        migrations.CreateModel(
            name="Invoice",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("number", models.CharField(max_length=30)),
                ("tags", models.ManyToManyField(to="shop.tag")),
                ("related", models.ManyToManyField(to="shop.invoice")),
            ],
        ),
    ]
'''

MODELS = '''from django.db import models


class Tag(models.Model):
    name = models.CharField(max_length=30)


class {name}(models.Model):
    number = models.CharField(max_length=30)
    tags = models.ManyToManyField(Tag)
    related = models.ManyToManyField("self", symmetrical=False)
'''

RENAME = '''
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("shop", "0001_initial")]
    operations = [migrations.RenameModel("Invoice", "Bill")]
'''


def _project(tmp_path, server, name, folder):
    project = DeployProject(tmp_path / folder, database_settings("postgresql", server, name))
    project.migration("0001_initial", INITIAL)
    (project.root / "shop" / "models.py").write_text(MODELS.format(name="Invoice"))
    assert project.deploy().code == 0
    with admin_connection(server, name) as conn:
        conn.execute("INSERT INTO shop_invoice (number) SELECT 'n' || g FROM generate_series(1, 12000) g")
        conn.execute("INSERT INTO shop_tag (name) VALUES ('red'), ('blue')")
        conn.execute("INSERT INTO shop_invoice_tags (invoice_id, tag_id) VALUES (1, 1), (2, 2)")
        conn.execute("INSERT INTO shop_invoice_related (from_invoice_id, to_invoice_id) VALUES (1, 2)")
        conn.execute("ANALYZE shop_invoice")
    project.migration("0002_rename", RENAME)
    (project.root / "shop" / "models.py").write_text(MODELS.format(name="Bill"))
    return project


def _schema(conn):
    return sorted(conn.execute(
        "SELECT c.relname, c.relkind, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull FROM pg_class c"
        " JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public' JOIN pg_attribute a ON"
        " a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped WHERE c.relname LIKE 'shop\\_%'"
        " AND c.relkind IN ('r', 'v')").fetchall())


def test_many_to_many_tables_keep_their_old_names_and_columns(postgresql_server, tmp_path, scratch_db_access):
    server = postgresql_server
    with scratch_database(server, "pilot_m2m") as safe_db, scratch_database(server, "pilot_m2m_p") as plain_db:
        safe = _project(tmp_path, server, safe_db, "safe")
        plain = _project(tmp_path, server, plain_db, "plain")

        rewritten = safe.run("makesafe", "shop", "0002", "--vendor", "postgresql")
        contract = (safe.root / "shop" / "migrations" / "0002_rename_contract.py").read_text()
        pre = safe.deploy("--phase", "pre")
        with admin_connection(server, safe_db) as conn:  # the old code, on the old names
            (link,) = conn.execute("INSERT INTO shop_invoice_tags (invoice_id, tag_id) VALUES (3, 1)"
                                   " RETURNING id").fetchone()
            conn.execute("INSERT INTO shop_invoice_related (from_invoice_id, to_invoice_id) VALUES (3, 1)")
            conn.execute("DELETE FROM shop_invoice_tags WHERE invoice_id = 2")
            old_view = conn.execute("SELECT invoice_id, tag_id FROM shop_invoice_tags ORDER BY id").fetchall()
            related = conn.execute("SELECT from_invoice_id, to_invoice_id FROM shop_invoice_related"
                                   " ORDER BY id").fetchall()
            new_view = conn.execute("SELECT bill_id, tag_id FROM shop_bill_tags ORDER BY id").fetchall()
            joined = conn.execute("SELECT i.number FROM shop_invoice i JOIN shop_invoice_tags t ON"
                                  " t.invoice_id = i.id WHERE t.id = %s", [link]).fetchone()
        post = safe.deploy("--phase", "post")
        assert plain.deploy("--fail-on", "never", "--no-online").code == 0
        with admin_connection(server, safe_db) as safe_conn, admin_connection(server, plain_db) as plain_conn:
            ends = _schema(safe_conn), _schema(plain_conn)
        back = safe.run("rollback", "--no-backup")  # the contract's reverse: the views come back
        with admin_connection(server, safe_db) as conn:
            again = conn.execute("SELECT invoice_id FROM shop_invoice_tags ORDER BY id").fetchall()

    assert rewritten.code == 0, rewritten.out + rewritten.err
    assert ("RenameTableContract([['shop_invoice', 'shop_bill'], ['shop_invoice_tags', 'shop_bill_tags',"
            " {'invoice_id': 'bill_id'}], ['shop_invoice_related', 'shop_bill_related', {'from_invoice_id':"
            " 'from_bill_id', 'to_invoice_id': 'to_bill_id'}]])") in contract
    assert pre.code == 0, pre.out + pre.err
    assert old_view == [(1, 1), (3, 1)] and new_view == old_view and joined == ("n3",)
    assert related == [(1, 2), (3, 1)]
    assert post.code == 0, post.out + post.err
    assert ends[0] == ends[1] and {row[1] for row in ends[0]} == {"r"}
    assert back.code == 0, back.out + back.err
    assert again == [(1,), (3,)]


def test_many_to_many_of_another_model_is_refused_before_anything_changes(postgresql_server, tmp_path,
                                                                          scratch_db_access):
    with scratch_database(postgresql_server, "pilot_m2m_refused") as name:
        project = DeployProject(tmp_path / "p", database_settings("postgresql", postgresql_server, name))
        project.migration("0001_initial", POINTING)
        (project.root / "shop" / "models.py").write_text(POINTING_MODELS.format(name="Invoice"))
        assert project.deploy().code == 0
        project.migration("0002_rename", RENAME.replace("migrations.RenameModel", "RenameModelOnline").replace(
            "from django.db import migrations\n",
            "from django.db import migrations\n\nfrom migration_pilot.operations import RenameModelOnline\n"))
        (project.root / "shop" / "models.py").write_text(POINTING_MODELS.format(name="Bill"))

        lint = project.run("lint", "shop", "--vendor", "postgresql")
        deploy = project.deploy("--fail-on", "never")
        with admin_connection(postgresql_server, name) as conn:
            tables = sorted(r[0] for r in conn.execute(
                "SELECT relname FROM pg_class WHERE relname LIKE 'shop\\_%' AND relkind IN ('r', 'v')").fetchall())

    reason = ("The table rename cannot be made online: it renames column shop_tag_invoices.invoice_id to bill_id"
              " in place (the many-to-many Tag.invoices), which no view can keep; keep the old names")
    assert lint.code == 1 and reason in lint.out
    assert deploy.code == 3 and reason in deploy.out + deploy.err
    assert "Traceback" not in deploy.out + deploy.err
    assert tables == ["shop_invoice", "shop_tag", "shop_tag_invoices"]


POINTING = '''
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True
    dependencies = []
    operations = [
        migrations.CreateModel(
            name="Invoice",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("number", models.CharField(max_length=30)),
            ],
        ),
        migrations.CreateModel(
            name="Tag",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("invoices", models.ManyToManyField(to="shop.invoice")),
            ],
        ),
    ]
'''

POINTING_MODELS = '''from django.db import models


class {name}(models.Model):
    number = models.CharField(max_length=30)


class Tag(models.Model):
    invoices = models.ManyToManyField({name})
'''


def _states(with_tags):
    fields = [("id", models.BigAutoField(primary_key=True))]
    invoice = [*fields, ("tags", models.ManyToManyField("shop.tag"))] if with_tags else fields
    before = ProjectState()
    before.add_model(ModelState("shop", "Tag", list(fields)))
    before.add_model(ModelState("shop", "Invoice", invoice))
    after = before.clone()
    migrations.RenameModel("Invoice", "Bill").state_forwards("shop", after)
    return before, after


def test_own_many_to_many_is_refused_on_mysql_only():
    before, after = _states(with_tags=True)

    assert table_renames("shop", "invoice", "bill", before, after) == [
        TableRename("shop_invoice", "shop_bill"), TableRename("shop_invoice_tags", "shop_bill_tags",
                                                              (("invoice_id", "bill_id"),))]
    assert refusal("shop", "invoice", "bill", before, after, "postgresql") is None
    assert refusal("shop", "invoice", "bill", before, after, "mysql") == (
        "The table rename cannot be made online: it renames column shop_invoice_tags.invoice_id to bill_id in a"
        " statement of its own on MySQL/MariaDB, so a view cannot replace the table in the same instant; keep the"
        " old names (Meta.db_table on the model, and db_table plus a through model whose ForeignKey keeps"
        " db_column for the many-to-many), or run the plain rename while no old code runs.")


def test_model_without_many_to_many_is_not_refused_on_mysql():
    before, after = _states(with_tags=False)

    assert refusal("shop", "invoice", "bill", before, after, "mysql") is None


def test_contract_argument_round_trip():
    rename = TableRename("shop_invoice_tags", "shop_bill_tags", (("invoice_id", "bill_id"),))

    assert TableRename.from_arg(rename.contract_arg()) == rename
    assert TableRename.from_arg(("a", "b")).contract_arg() == ["a", "b"]


def test_makesafe_leaves_a_refused_rename_as_it_is_and_says_why(postgresql_server, tmp_path, scratch_db_access):
    with scratch_database(postgresql_server, "pilot_m2m_makesafe") as name:
        project = DeployProject(tmp_path / "p", database_settings("postgresql", postgresql_server, name))
        project.migration("0001_initial", POINTING)
        (project.root / "shop" / "models.py").write_text(POINTING_MODELS.format(name="Invoice"))
        assert project.deploy().code == 0
        with admin_connection(postgresql_server, name) as conn:
            conn.execute("INSERT INTO shop_invoice (number) SELECT 'n' || g FROM generate_series(1, 12000) g")
            conn.execute("ANALYZE shop_invoice")
        project.migration("0002_rename", RENAME)
        (project.root / "shop" / "models.py").write_text(POINTING_MODELS.format(name="Bill"))
        before = (project.root / "shop" / "migrations" / "0002_rename.py").read_text()

        result = project.run("makesafe", "shop", "0002", "--vendor", "postgresql")
        after = (project.root / "shop" / "migrations" / "0002_rename.py").read_text()
        files = sorted(p.name for p in (project.root / "shop" / "migrations").glob("0002*"))

    assert result.code == 0, result.out + result.err
    assert ("warning: operation 0 left as it is: The table rename cannot be made online: it renames column"
            " shop_tag_invoices.invoice_id to bill_id in place") in result.out
    assert after == before and files == ["0002_rename.py"]
