"""S9: separate credentials for migrations, backups and the application (one alias each, one database).

The catalogue asks that migrations and backups need not run with the application's credentials and the
application need not hold the migration's. Each command takes `--database ALIAS`, so a project lists the
same database three times with three roles: the table owner deploys, a read-only role backs up, and the
application's role, holding only row privileges, can neither change the schema nor needs to.
"""

from __future__ import annotations

import contextlib

import psycopg

from tests.databases import admin_connection, scratch_database
from tests.pipeline.inspect_db import query
from tests.pipeline.project import ADD_NOTE, NOTE_FIELDS, DeployProject
from tests.pipeline.test_least_privilege import one_line, pg_role


def test_postgresql_migrations_backups_and_the_app_each_use_their_own_role(postgresql_server, tmp_path):
    server = postgresql_server
    with contextlib.ExitStack() as stack:
        owner, app, backups = (stack.enter_context(pg_role(server)) for _ in range(3))
        name = stack.enter_context(scratch_database(server, "pilot_creds"))
        with admin_connection(server, name) as conn:
            cursor = conn.cursor()
            cursor.execute(f"GRANT CREATE, USAGE ON SCHEMA public TO {owner}")
            cursor.execute(f"GRANT USAGE ON SCHEMA public TO {app}, {backups}")
            cursor.execute(f"ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA public"
                           f" GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {app}")
            cursor.execute(f"ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA public"
                           f" GRANT USAGE, SELECT ON SEQUENCES TO {app}")
            cursor.execute(f"GRANT pg_read_all_data TO {backups}")
        base = server.django_settings(name)
        databases = {"default": {**base, "USER": app}, "migrations": {**base, "USER": owner},
                     "backups": {**base, "USER": backups}}
        project = DeployProject(tmp_path / "creds", databases["default"])
        project.use_databases(databases)

        deployed = project.run("deploy", "--database", "migrations", "--no-backup")
        backup = project.run("backup", "--database", "backups", "--label", "nightly")
        with psycopg.connect(host=server.host, port=server.port, user=app, dbname=name, autocommit=True) as conn:
            conn.execute("INSERT INTO shop_invoice (number, amount) VALUES ('by the app', 3)")
        project.migration("0002_note", ADD_NOTE)
        project.models(NOTE_FIELDS)
        by_app = project.run("deploy", "--database", "default", "--no-backup")
        by_owner = project.run("deploy", "--database", "migrations", "--no-backup")

        assert deployed.code == 0, deployed.out + deployed.err
        assert backup.code == 0, backup.out + backup.err
        owners = query("postgresql", server, name,
                       "SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'public'")
        assert owners == [(owner,)]
        # The application's role may write rows, not change the schema: refused before anything is recorded.
        one_line(by_app, 1, "shop_invoice", owner)
        assert by_owner.code == 0, by_owner.out + by_owner.err
        assert query("postgresql", server, name, "SELECT number, amount, note FROM shop_invoice") == [
            ("by the app", 3, None)]
        listed = project.run("backups", "--format", "json")
        assert listed.code == 0 and "nightly" in listed.out, listed.out + listed.err
