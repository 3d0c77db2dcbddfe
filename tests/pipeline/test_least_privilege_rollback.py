"""S9: a rollback's tables, and MariaDB privileges held through a role, are judged before anything runs.

PostgreSQL lets only a table's owner drop it. A rollback whose reverse drops a table (the reverse of
CreateModel, with its auto-created many-to-many table) run by a role that may write everything but
owns none of those tables used to be refused by the server in the middle of the apply; it is now
refused before anything is recorded, naming each table and the ALTER TABLE ... OWNER TO that fixes it.
Once the role owns them, the same rollback runs.

MariaDB: a user holding no privileges of its own, only those of a default role (CREATE ROLE, GRANT
... TO role, SET DEFAULT ROLE), deploys; with ALTER revoked from the role it is refused before
anything is recorded, naming the grant. Roles and users get unique names and are always dropped.
"""

from __future__ import annotations

import contextlib
import uuid

from tests.databases import admin_connection, scratch_database
from tests.pipeline.inspect_db import applied, query
from tests.pipeline.project import ADD_NOTE, NOTE_FIELDS, DeployProject
from tests.pipeline.test_least_privilege import as_user, one_line, pg_role, runs

ADD_EXTRA = '''
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("shop", "0001_initial")]
    operations = [
        migrations.CreateModel(
            name="Extra",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("label", models.CharField(max_length=30)),
                ("invoices", models.ManyToManyField(to="shop.invoice")),
            ],
        ),
    ]
'''

EXTRA_MODELS = '''from django.db import models


class Invoice(models.Model):
    number = models.CharField(max_length=30)
    amount = models.IntegerField(default=0)


class Extra(models.Model):
    label = models.CharField(max_length=30)
    invoices = models.ManyToManyField(Invoice)
'''


def _with_extra(project: DeployProject) -> DeployProject:
    project.migration("0002_extra", ADD_EXTRA)
    (project.root / "shop" / "models.py").write_text(EXTRA_MODELS)
    return project


def _tables(server, name):
    return query("postgresql", server, name, "SELECT tablename, tableowner FROM pg_tables"
                 " WHERE schemaname = 'public' AND tablename LIKE 'shop_%' ORDER BY 1")


def test_postgresql_rollback_dropping_a_table_the_role_does_not_own_is_refused_first(postgresql_server, tmp_path):
    server = postgresql_server
    with pg_role(server) as role, scratch_database(server, "pilot_lpr") as name:
        admin = DeployProject(tmp_path / "admin", server.django_settings(name))
        assert admin.deploy().code == 0
        assert _with_extra(admin).deploy().code == 0  # its own run: the rollback undoes only 0002_extra
        with admin_connection(server, name) as conn:
            cursor = conn.cursor()
            cursor.execute(f"GRANT CREATE, USAGE ON SCHEMA public TO {role}")
            cursor.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}")
            cursor.execute(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}")
        query("postgresql", server, name, "INSERT INTO shop_extra (label) VALUES ('kept')")
        before_runs, before_tables = runs("postgresql", server, name), _tables(server, name)
        project = _with_extra(as_user(server, name, role, tmp_path, "member"))

        refused = project.run("rollback", "--no-backup", "--accept-data-loss")

        after_runs, after_tables = runs("postgresql", server, name), _tables(server, name)
        shop = [key for key in applied("postgresql", server, name) if key[0] == "shop"]
        rows = query("postgresql", server, name, "SELECT label FROM shop_extra")
        with admin_connection(server, name) as conn:
            for table in ("shop_extra", "shop_extra_invoices"):
                conn.cursor().execute(f"ALTER TABLE {table} OWNER TO {role}")
        owned = project.run("rollback", "--no-backup", "--accept-data-loss")
        tables_then = [table for table, _owner in _tables(server, name)]

    one_line(refused, 1, f"Refused: role '{role}' lacks privileges this rollback needs:",
             "ownership of shop_extra (owner postgres; this rollback drops it)",
             "ownership of shop_extra_invoices (owner postgres; this rollback drops it)",
             f'ALTER TABLE "shop_extra" OWNER TO "{role}"', f'ALTER TABLE "shop_extra_invoices" OWNER TO "{role}"')
    assert "shop_invoice" not in refused.out + refused.err  # altered by nothing: its ownership is not asked
    assert after_runs == before_runs
    assert after_tables == before_tables
    assert shop == [("shop", "0001_initial"), ("shop", "0002_extra")]
    assert rows == [("kept",)]
    assert owned.code == 0, owned.out + owned.err
    assert tables_then == ["shop_invoice"]


@contextlib.contextmanager
def role_user(server, database, privileges):
    """A user with no privileges of its own; `privileges` on `database` come only through its default role."""
    user, role = f"pilot_lpu_{uuid.uuid4().hex[:8]}", f"pilot_lpr_{uuid.uuid4().hex[:8]}"
    with admin_connection(server) as conn:
        cursor = conn.cursor()
        cursor.execute(f"CREATE ROLE {role}")
        cursor.execute(f"GRANT {privileges} ON `{database}`.* TO {role}")
        cursor.execute(f"CREATE USER '{user}'@'%' IDENTIFIED BY 'lp-secret'")
        cursor.execute(f"GRANT {role} TO '{user}'@'%'")
        cursor.execute(f"SET DEFAULT ROLE {role} FOR '{user}'@'%'")
    try:
        yield user, role
    finally:
        with admin_connection(server) as conn:
            conn.cursor().execute(f"DROP USER IF EXISTS '{user}'@'%'")
            conn.cursor().execute(f"DROP ROLE IF EXISTS {role}")


DDL = "SELECT, INSERT, UPDATE, DELETE, CREATE, ALTER, DROP, INDEX, REFERENCES"


def test_mariadb_user_whose_privileges_come_from_a_default_role_deploys(mysql_server, tmp_path):
    server = mysql_server
    with scratch_database(server, "pilot_lpr") as name, role_user(server, name, DDL) as (user, _role):
        assert DeployProject(tmp_path / "admin", server.django_settings(name)).deploy().code == 0
        own = query("mysql", server, name, "SELECT COUNT(*) FROM information_schema.SCHEMA_PRIVILEGES"
                    f" WHERE GRANTEE = '''{user}''@''%'''")
        project = as_user(server, name, user, tmp_path, "member")
        project.migration("0002_note", ADD_NOTE)
        project.models(NOTE_FIELDS)

        result = project.deploy()

        shop = applied("mysql", server, name)
    assert own == [(0,)]  # nothing granted to the user itself
    assert result.code == 0, result.out + result.err
    assert ("shop", "0002_note") in shop


def test_mariadb_default_role_without_alter_is_refused_naming_the_grant(mysql_server, tmp_path):
    server = mysql_server
    with scratch_database(server, "pilot_lpr") as name, role_user(server, name, DDL) as (user, role):
        assert DeployProject(tmp_path / "admin", server.django_settings(name)).deploy().code == 0
        with admin_connection(server) as conn:
            conn.cursor().execute(f"REVOKE ALTER ON `{name}`.* FROM {role}")
        before = runs("mysql", server, name)
        project = as_user(server, name, user, tmp_path, "member")
        project.migration("0002_note", ADD_NOTE)
        project.models(NOTE_FIELDS)

        result = project.deploy()

        after = runs("mysql", server, name)
        shop = [key for key in applied("mysql", server, name) if key[0] == "shop"]
        columns = [c for (c,) in query("mysql", server, name, "SELECT COLUMN_NAME FROM information_schema.COLUMNS"
                                       " WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'shop_invoice'")]
    one_line(result, 1, f"Refused: user '{user}'@'%' lacks privileges this deploy needs on database {name}: ALTER.",
             f"GRANT {DDL} ON `{name}`.* TO '{user}'@'%'.")
    assert after == before
    assert shop == [("shop", "0001_initial")]
    assert "note" not in columns
