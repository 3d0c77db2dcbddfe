"""S9 on MariaDB: a user whose privileges are table-level grants is judged table by table.

A user may hold its privileges on single tables (`GRANT ... ON db.table`)
rather than on the database. Such a user with everything a deploy needs on
the tables it touches deploys; one that lacks ALTER on the table a migration
changes is refused before anything is recorded, with the grant on that table
named, instead of failing inside the apply.
"""

from __future__ import annotations

import contextlib
import uuid

from tests.databases import admin_connection, scratch_database
from tests.pipeline.inspect_db import applied, query
from tests.pipeline.project import ADD_NOTE, NOTE_FIELDS, DeployProject
from tests.pipeline.test_least_privilege import as_user, one_line, runs

HISTORY = ["django_migrations", "migration_pilot_deployrun", "migration_pilot_migrationrun"]
DDL = "SELECT, INSERT, UPDATE, DELETE, CREATE, ALTER, DROP, INDEX, REFERENCES"


@contextlib.contextmanager
def table_user(server, database, grants):
    """A user holding `grants` ({table: privileges}) on single tables of `database` only."""
    user = f"pilot_tg_{uuid.uuid4().hex[:8]}"
    with admin_connection(server) as conn:
        cursor = conn.cursor()
        cursor.execute(f"CREATE USER '{user}'@'%' IDENTIFIED BY 'lp-secret'")
        for table, privileges in grants.items():
            cursor.execute(f"GRANT {privileges} ON `{database}`.`{table}` TO '{user}'@'%'")
    try:
        yield user
    finally:
        with admin_connection(server) as conn:
            conn.cursor().execute(f"DROP USER IF EXISTS '{user}'@'%'")


def _history_tables(server, name):
    return [t for (t,) in query("mysql", server, name, "SHOW TABLES")
            if t == "django_migrations" or t.startswith("migration_pilot_")]


def test_table_level_grants_that_suffice_deploy(mysql_server, tmp_path):
    server = mysql_server
    with scratch_database(server, "pilot_tg") as name:
        assert DeployProject(tmp_path / "admin", server.django_settings(name)).deploy().code == 0
        grants = {t: "SELECT, INSERT, UPDATE, DELETE" for t in _history_tables(server, name)}
        grants["shop_invoice"] = DDL
        with table_user(server, name, grants) as user:
            project = as_user(server, name, user, tmp_path, "tables")
            project.migration("0002_note", ADD_NOTE)
            project.models(NOTE_FIELDS)
            result = project.deploy()
            shop = applied("mysql", server, name)

    assert result.code == 0, result.out + result.err
    assert ("shop", "0002_note") in shop


def test_table_level_grants_without_alter_are_refused_naming_the_table(mysql_server, tmp_path):
    server = mysql_server
    with scratch_database(server, "pilot_tg") as name:
        assert DeployProject(tmp_path / "admin", server.django_settings(name)).deploy().code == 0
        grants = {t: "SELECT, INSERT, UPDATE, DELETE" for t in _history_tables(server, name)}
        grants["shop_invoice"] = "SELECT, INSERT, UPDATE, DELETE"
        before = runs("mysql", server, name)
        with table_user(server, name, grants) as user:
            project = as_user(server, name, user, tmp_path, "tables")
            project.migration("0002_note", ADD_NOTE)
            project.models(NOTE_FIELDS)
            result = project.deploy()
        after = runs("mysql", server, name)
        shop = applied("mysql", server, name)

    one_line(result, 1, f"Refused: user '{user}'@'%' lacks privileges this deploy needs on database {name}"
             " (judged table by table: it holds table-level grants): CREATE, ALTER, DROP, INDEX, REFERENCES on"
             " shop_invoice.",
             f"GRANT CREATE, ALTER, DROP, INDEX, REFERENCES ON `{name}`.`shop_invoice` TO '{user}'@'%'.")
    assert after == before
    assert ("shop", "0002_note") not in shop
