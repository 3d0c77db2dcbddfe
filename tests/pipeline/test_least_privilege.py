"""S9 least privilege: the whole pipeline as a role that is not superuser, verify as a read-only one.

PostgreSQL: a role that holds CREATE on the schema and owns the tables it made (no SUPERUSER, no
CREATEDB) deploys, backs up, verifies (against the migration state: no shadow database without
CREATEDB, said in the output), restores on failure and rolls back. A SELECT-only role verifies (the
sequences it may not read are named with the grant, not reported as drift). A role short of privileges
gets one line naming every missing one and the GRANT, before anything is recorded or changed.
MariaDB: the same with a user holding grants on the application database only.
Roles and users get unique names and are always dropped.
"""

from __future__ import annotations

import contextlib
import json
import uuid

import pytest

from tests.databases import admin_connection, scratch_database
from tests.pipeline.inspect_db import applied, query
from tests.pipeline.project import ADD_NOTE, FAILING, NOTE_FIELDS, DeployProject


def one_line(result, code, *needles):
    assert result.code == code, (result.out, result.err)
    assert "Traceback" not in result.out + result.err
    lines = [line for line in (result.err or result.out).splitlines() if line.strip()]
    assert len([line for line in lines if line.startswith(("error:", "Refused:"))]) == 1, result.out + result.err
    text = result.out + result.err
    for needle in needles:
        assert needle in text, text


@contextlib.contextmanager
def pg_role(server, *options):
    role = f"pilot_lp_{uuid.uuid4().hex[:8]}"
    with admin_connection(server) as conn:
        conn.cursor().execute(f"CREATE ROLE {role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE {' '.join(options)}")
    try:
        yield role
    finally:
        with admin_connection(server) as conn:
            conn.cursor().execute(f"DROP ROLE IF EXISTS {role}")


@contextlib.contextmanager
def my_user(server, database, privileges):
    user = f"pilot_lp_{uuid.uuid4().hex[:8]}"
    with admin_connection(server) as conn:
        conn.cursor().execute(f"CREATE USER '{user}'@'%' IDENTIFIED BY 'lp-secret'")
        conn.cursor().execute(f"GRANT {privileges} ON `{database}`.* TO '{user}'@'%'")
    try:
        yield user
    finally:
        with admin_connection(server) as conn:
            conn.cursor().execute(f"DROP USER IF EXISTS '{user}'@'%'")


def as_user(server, name, user, tmp_path, label):
    settings = {**server.django_settings(name), "USER": user}
    if server.vendor == "mysql":
        settings["PASSWORD"] = "lp-secret"
    return DeployProject(tmp_path / label, settings)


def runs(vendor, server, name):
    return query(vendor, server, name, "SELECT id, kind, outcome FROM migration_pilot_deployrun ORDER BY id")


def the_whole_pipeline(project, vendor, server, name):
    """deploy from empty, deploy a change, verify, a failed deploy restored, rollback: as the role."""
    first = project.run("deploy")
    assert first.code == 0, first.out + first.err
    project.migration("0002_note", ADD_NOTE)
    project.models(NOTE_FIELDS)
    second = project.run("deploy")
    assert second.code == 0, second.out + second.err
    # No CREATEDB (or CREATE on other databases): verify said so and compared with the migration state.
    assert "Could not create a shadow database" in second.out, second.out
    assert "Verified: the live schema matches the migration state" in second.out, second.out
    verified = project.run("verify", "--format", "json")
    assert verified.code == 0, verified.out + verified.err
    query(vendor, server, name, "INSERT INTO shop_invoice (number, amount, note) VALUES ('keep', 7, 'n')")

    project.migration("0003_broken", FAILING)
    restored = project.run("deploy", "--on-failure", "restore", "--retry-delay", "0.1s")
    assert restored.code == 3, restored.out + restored.err
    assert "Restored backup" in restored.out
    (project.root / "shop" / "migrations" / "0003_broken.py").unlink()
    # The restored history holds no copy of the failed run as 'running' for the next command to "complete".
    assert [outcome for _id, _kind, outcome in runs(vendor, server, name)] == ["succeeded", "succeeded", "restored"]

    back = project.run("rollback", "--accept-data-loss")
    assert back.code == 0, back.out + back.err
    assert "interrupted" not in back.out.lower(), back.out
    assert [key for key in applied(vendor, server, name) if key[0] == "shop"] == [("shop", "0001_initial")]
    assert query(vendor, server, name, "SELECT number, amount FROM shop_invoice") == [("keep", 7)]


def test_postgresql_pipeline_as_a_table_owner_without_superuser_or_createdb(postgresql_server, tmp_path):
    server = postgresql_server
    with pg_role(server) as role, scratch_database(server, "pilot_lp") as name:
        with admin_connection(server, name) as conn:
            conn.cursor().execute(f"GRANT CREATE, USAGE ON SCHEMA public TO {role}")
        project = as_user(server, name, role, tmp_path, "owner")

        the_whole_pipeline(project, "postgresql", server, name)

        owners = query("postgresql", server, name, "SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'public'")
        powers = query("postgresql", server, name,
                       f"SELECT rolsuper, rolcreatedb FROM pg_roles WHERE rolname = '{role}'")
    assert owners == [(role,)]
    assert powers == [(False, False)]


def test_postgresql_verify_as_a_select_only_role(postgresql_server, tmp_path):
    server = postgresql_server
    with pg_role(server) as role, scratch_database(server, "pilot_lp") as name:
        admin = DeployProject(tmp_path / "admin", server.django_settings(name))
        admin.migration("0002_note", ADD_NOTE)
        admin.models(NOTE_FIELDS)
        assert admin.deploy().code == 0
        with admin_connection(server, name) as conn:
            conn.cursor().execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}")
        reader = as_user(server, name, role, tmp_path, "reader")
        reader.migration("0002_note", ADD_NOTE)
        reader.models(NOTE_FIELDS)

        clean = reader.run("verify", "--format", "json")
        query("postgresql", server, name, "ALTER TABLE shop_invoice ALTER COLUMN number DROP NOT NULL")
        drift = reader.run("verify", "--format", "json")

    assert clean.code == 0, clean.out + clean.err
    report = json.loads(clean.out)
    assert report["reference"] == "state"
    assert report["differences"] == []  # no sequence_behind for sequences it cannot read
    assert any(f'GRANT SELECT ON ALL SEQUENCES IN SCHEMA "public" TO "{role}"' in note for note in report["notes"])
    assert drift.code == 1, drift.out + drift.err
    kinds = {(d["kind"], d["table"], d["object"]) for d in json.loads(drift.out)["differences"]}
    assert kinds == {("column_nullability", "shop_invoice", "number")}


@pytest.mark.parametrize("command", [("verify",), ("plan",), ("history",), ("deploy", "--no-backup"), ("backup",)])
def test_postgresql_role_that_may_read_nothing_gets_one_line_naming_every_table(postgresql_server, tmp_path, command):
    server = postgresql_server
    with pg_role(server) as role, scratch_database(server, "pilot_lp") as name:
        assert DeployProject(tmp_path / "admin", server.django_settings(name)).deploy().code == 0
        before = runs("postgresql", server, name)

        result = as_user(server, name, role, tmp_path, "nobody").run(*command)

        after = runs("postgresql", server, name)
    one_line(result, 2, f"Role '{role}' of database alias 'default' may not read 7 table(s): django_migrations,",
             "shop_invoice (permission denied)", f"Grant it: GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}")
    assert after == before


@pytest.mark.parametrize("command", [("deploy", "--no-backup"), ("deploy", "--dry-run")])
def test_postgresql_deploy_as_a_read_only_role_is_refused_naming_every_grant(postgresql_server, tmp_path, command):
    server = postgresql_server
    with pg_role(server) as role, scratch_database(server, "pilot_lp") as name:
        assert DeployProject(tmp_path / "admin", server.django_settings(name)).deploy().code == 0
        with admin_connection(server, name) as conn:
            conn.cursor().execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}")
        before = runs("postgresql", server, name)
        reader = as_user(server, name, role, tmp_path, "reader")
        reader.migration("0002_note", ADD_NOTE)
        reader.models(NOTE_FIELDS)

        result = reader.run(*command)

        after = runs("postgresql", server, name)
        shop = [key for key in applied("postgresql", server, name) if key[0] == "shop"]
    one_line(result, 1, f"Refused: role '{role}' lacks privileges this deploy needs: INSERT, UPDATE, DELETE on"
             " django_migrations, migration_pilot_deployrun", "USAGE on the id sequences of django_migrations",
             "ownership of shop_invoice (owner postgres)",
             'GRANT SELECT, INSERT, UPDATE, DELETE ON "django_migrations", "migration_pilot_deployrun"',
             f'ALTER TABLE "shop_invoice" OWNER TO "{role}"')
    assert after == before
    assert shop == [("shop", "0001_initial")]


def test_postgresql_owner_without_create_on_the_schema_is_refused_before_creating_anything(postgresql_server,
                                                                                           tmp_path):
    server = postgresql_server
    with pg_role(server) as role, scratch_database(server, "pilot_lp") as name:
        result = as_user(server, name, role, tmp_path, "nocreate").run("deploy", "--no-backup")
        tables = query("postgresql", server, name, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    one_line(result, 1, "lacks privileges this deploy needs: the CREATE privilege on schema public",
             f'GRANT CREATE ON SCHEMA "public" TO "{role}"')
    assert tables == []


def test_mariadb_pipeline_as_a_user_with_grants_on_the_app_database_only(mysql_server, tmp_path):
    server = mysql_server
    with scratch_database(server, "pilot_lp") as name, my_user(server, name, "ALL PRIVILEGES") as user:
        the_whole_pipeline(as_user(server, name, user, tmp_path, "owner"), "mysql", server, name)


def test_mariadb_verify_as_a_select_only_user(mysql_server, tmp_path):
    server = mysql_server
    with scratch_database(server, "pilot_lp") as name, my_user(server, name, "SELECT") as user:
        admin = DeployProject(tmp_path / "admin", server.django_settings(name))
        assert admin.deploy().code == 0
        reader = as_user(server, name, user, tmp_path, "reader")

        clean = reader.run("verify", "--format", "json")
        query("mysql", server, name, "ALTER TABLE shop_invoice MODIFY number varchar(30) NULL")
        drift = reader.run("verify", "--format", "json")

    assert clean.code == 0, clean.out + clean.err
    assert json.loads(clean.out)["reference"] == "state"
    assert drift.code == 1, drift.out + drift.err
    kinds = {(d["kind"], d["table"], d["object"]) for d in json.loads(drift.out)["differences"]}
    assert kinds == {("column_nullability", "shop_invoice", "number")}


@pytest.mark.parametrize("command", [("deploy", "--no-backup"), ("deploy", "--dry-run")])
def test_mariadb_deploy_as_a_select_only_user_is_refused_naming_the_grant(mysql_server, tmp_path, command):
    server = mysql_server
    with scratch_database(server, "pilot_lp") as name, my_user(server, name, "SELECT") as user:
        assert DeployProject(tmp_path / "admin", server.django_settings(name)).deploy().code == 0
        before = runs("mysql", server, name)
        reader = as_user(server, name, user, tmp_path, "reader")
        reader.migration("0002_note", ADD_NOTE)
        reader.models(NOTE_FIELDS)

        result = reader.run(*command)

        after = runs("mysql", server, name)
        shop = [key for key in applied("mysql", server, name) if key[0] == "shop"]
    one_line(result, 1, f"Refused: user '{user}'@'%' lacks privileges this deploy needs on database {name}:"
             " INSERT, UPDATE, DELETE, CREATE, ALTER, DROP, INDEX, REFERENCES.",
             f"GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, ALTER, DROP, INDEX, REFERENCES ON `{name}`.* TO"
             f" '{user}'@'%'.")
    assert after == before
    assert shop == [("shop", "0001_initial")]
