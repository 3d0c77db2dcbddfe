"""G1: roles, ownership or extensions missing at the restore target are all named before it is touched.

The backup's tables are owned by an `app_owner` role, one column uses `citext`
and a reader role is granted SELECT. The restore runs as a LOGIN role that is
not a superuser and not a member of `app_owner` (citext is a trusted extension
since PostgreSQL 13, so creating it needs CREATE on the target database, not a
superuser). Roles get unique names and are dropped after their databases.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import replace

import pytest

from tests.backup.shop import Shop
from tests.databases import admin_connection, scratch_database


@pytest.fixture
def roles(postgresql_server):
    """Unique role names: owner, reader, restorer (LOGIN, not superuser); dropped at the end."""
    suffix = uuid.uuid4().hex[:8]
    names = {"owner": f"pilot_app_owner_{suffix}", "reader": f"pilot_reader_{suffix}",
             "restorer": f"pilot_restorer_{suffix}"}
    with admin_connection(postgresql_server) as conn:
        conn.execute(f"CREATE ROLE {names['owner']} NOLOGIN")
        conn.execute(f"CREATE ROLE {names['reader']} NOLOGIN")
        conn.execute(f"CREATE ROLE {names['restorer']} LOGIN CREATEDB")
    created: list[str] = []
    names["databases"] = created  # type: ignore[assignment]
    try:
        yield names
    finally:
        with admin_connection(postgresql_server) as conn:
            for database in created:
                conn.execute(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
            for key in ("owner", "reader", "restorer"):
                conn.execute(f"DROP ROLE IF EXISTS {names[key]}")


@pytest.fixture
def source(postgresql_server, roles, tmp_path):
    """The shop, its tables owned by app_owner, a citext column, SELECT granted to the reader; backed up."""
    with scratch_database(postgresql_server, "pilot_g1_source") as name:
        shop = Shop("postgresql", postgresql_server, name, tmp_path)
        shop.migrate()
        shop.fill(users=3, customers=20, orders=20)
        with admin_connection(postgresql_server, name) as conn:
            conn.execute("CREATE EXTENSION citext")
            conn.execute("CREATE TABLE contacts (id int PRIMARY KEY, email citext NOT NULL)")
            conn.execute("INSERT INTO contacts VALUES (1, 'Ada@Example.com'), (2, 'bob@example.com')")
            tables = [row[0] for row in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
            for table in tables:
                conn.execute(f'ALTER TABLE "{table}" OWNER TO {roles["owner"]}')
            conn.execute(f"GRANT SELECT ON customers_customer TO {roles['reader']}")
        shop.manifest = shop.backup()
        yield shop


def _as_restorer(source, roles, database):
    server = replace(source.server, user=roles["restorer"])
    return Shop("postgresql", server, database, source.cwd)


def _fresh_database(postgresql_server, roles, *, schema_create):
    """An empty database made by the superuser; the restorer may create in schema public, not in the database."""
    name = f"pilot_g1_target_{uuid.uuid4().hex[:8]}"
    roles["databases"].append(name)
    with admin_connection(postgresql_server) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    if schema_create:
        with admin_connection(postgresql_server, name) as conn:
            conn.execute(f"GRANT CREATE ON SCHEMA public TO {roles['restorer']}")
    return name


def _contents(postgresql_server, database):
    with admin_connection(postgresql_server, database) as conn:
        tables = conn.execute("SELECT tablename, tableowner FROM pg_tables WHERE schemaname = 'public'").fetchall()
        extensions = [r[0] for r in conn.execute("SELECT extname FROM pg_extension WHERE extname <> 'plpgsql'")]
    return sorted(tables), extensions


def test_restore_as_non_superuser_names_the_missing_role_and_extension_privilege(postgresql_server, roles, source):
    target = _fresh_database(postgresql_server, roles, schema_create=True)
    restorer = _as_restorer(source, roles, target)
    restore = ("restore", source.manifest["id"], "--yes", "--discard-writes")

    refused = restorer.pilot(*restore)
    without_owner = restorer.pilot(*restore, "--no-owner")

    assert refused.code == 2, refused.out + refused.err
    assert refused.err.count("\n") == 1, refused.err
    assert re.search(rf"role {roles['owner']} owns \d+ object\(s\) in the backup but {roles['restorer']} is not"
                     " a member of it", refused.err)
    assert (f"extension citext must be created and {roles['restorer']} lacks CREATE on database {target}"
            in refused.err)
    assert f"GRANT {roles['owner']} TO {roles['restorer']}" in refused.err and "--no-owner" in refused.err
    assert f"GRANT CREATE ON DATABASE {target} TO {roles['restorer']}" in refused.err
    assert without_owner.code == 2, without_owner.err
    assert "extension citext" in without_owner.err and roles["owner"] not in without_owner.err
    assert _contents(postgresql_server, target) == ([], [])


def test_no_owner_restores_as_non_superuser_once_it_may_create_the_extension(postgresql_server, roles, source):
    target = _fresh_database(postgresql_server, roles, schema_create=True)
    with admin_connection(postgresql_server) as conn:
        conn.execute(f"GRANT CREATE ON DATABASE {target} TO {roles['restorer']}")
    restorer = _as_restorer(source, roles, target)

    result = restorer.pilot("restore", source.manifest["id"], "--yes", "--discard-writes", "--no-owner")

    assert result.code == 0, result.out + result.err
    tables, extensions = _contents(postgresql_server, target)
    assert extensions == ["citext"]
    assert {owner for _, owner in tables} == {roles["restorer"]}
    assert restorer.snapshot() == source.snapshot()
    assert restorer.sql("SELECT id FROM contacts WHERE email = 'ADA@example.COM'") == [(1,)]


def test_restore_into_a_new_database_names_missing_grantee_and_no_owner_succeeds(postgresql_server, roles, source):
    with admin_connection(postgresql_server, source.name) as conn:
        conn.execute(f"DROP OWNED BY {roles['reader']}")  # granted SELECT in the backup, gone from the server
        conn.execute(f"DROP ROLE {roles['reader']}")
    new = f"pilot_g1_new_{uuid.uuid4().hex[:8]}"
    roles["databases"].append(new)
    restorer = _as_restorer(source, roles, _fresh_database(postgresql_server, roles, schema_create=False))
    restore = ("restore", source.manifest["id"], "--yes", "--target", new)

    refused = restorer.pilot(*restore)
    without_acl = restorer.pilot(*restore, "--no-acl")
    restored = restorer.pilot(*restore, "--no-owner")

    assert refused.code == 2, refused.out + refused.err
    assert f"role {roles['owner']} owns" in refused.err
    assert f"role {roles['reader']} is granted privileges in the backup but does not exist" in refused.err
    assert "citext" not in refused.err  # the restorer creates the new database, so it may create citext
    assert without_acl.code == 2 and roles["reader"] not in without_acl.err and roles["owner"] in without_acl.err
    assert restored.code == 0, restored.out + restored.err
    tables, extensions = _contents(postgresql_server, new)
    assert extensions == ["citext"] and {owner for _, owner in tables} == {roles["restorer"]}


def test_superuser_restore_is_not_refused(postgresql_server, roles, source):
    new = f"pilot_g1_new_{uuid.uuid4().hex[:8]}"
    roles["databases"].append(new)

    result = source.pilot("restore", source.manifest["id"], "--yes", "--target", new)

    assert result.code == 0, result.out + result.err
    tables, extensions = _contents(postgresql_server, new)
    assert extensions == ["citext"] and {owner for _, owner in tables} == {roles["owner"]}
