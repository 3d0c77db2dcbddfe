"""F4: the manifest records the roles the dump names and the extensions installed; a restore checks them.

pg_dump dumps one database: roles exist only in `pg_dumpall --globals-only`,
and `CREATE EXTENSION` is written without a version, so the restore gets the
target server's default. The manifest keeps both facts, and the restore
preflight refuses a server that cannot give the recorded extension versions.
A backup "from another server" is simulated by editing the manifest's
extension versions (the data file, and so its checksum, is untouched).
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from tests.backup.shop import Shop
from tests.databases import admin_connection, scratch_database


@pytest.fixture
def source(postgresql_server, tmp_path):
    """The shop with citext, its customers table owned by a role, SELECT granted to another; backed up."""
    suffix = uuid.uuid4().hex[:8]
    owner, reader = f"pilot_f4_owner_{suffix}", f"pilot_f4_reader_{suffix}"
    with admin_connection(postgresql_server) as conn:
        conn.execute(f"CREATE ROLE {owner} NOLOGIN")
        conn.execute(f"CREATE ROLE {reader} NOLOGIN")
    try:
        with scratch_database(postgresql_server, "pilot_f4") as name:
            shop = Shop("postgresql", postgresql_server, name, tmp_path)
            shop.migrate()
            with admin_connection(postgresql_server, name) as conn:
                conn.execute("CREATE EXTENSION citext")
                conn.execute("CREATE TABLE contacts (id int PRIMARY KEY, email citext NOT NULL)")
                conn.execute("INSERT INTO contacts VALUES (1, 'Ada@Example.com'), (2, 'bob@example.com')")
                conn.execute(f"ALTER TABLE customers_customer OWNER TO {owner}")
                conn.execute(f"GRANT SELECT ON contacts TO {reader}")
                version = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'citext'").fetchone()[0]
            shop.manifest = shop.backup()
            shop.roles = (owner, reader)
            shop.citext = version
            yield shop
    finally:
        with admin_connection(postgresql_server) as conn:
            conn.execute(f"DROP ROLE IF EXISTS {owner}")
            conn.execute(f"DROP ROLE IF EXISTS {reader}")


def _edit_manifest(shop, **changes) -> None:
    path = Path(shop.manifest["path"]).with_name(shop.manifest["id"] + ".json")
    recorded = json.loads(path.read_text())
    recorded.update(changes)
    for key, value in changes.items():
        if value is None:
            recorded.pop(key)
    path.write_text(json.dumps(recorded, indent=2, sort_keys=True) + "\n")


def test_manifest_records_the_roles_the_dump_names_and_the_installed_extensions(source):
    manifest = source.manifest
    owner, reader = source.roles

    assert {owner, reader, source.server.user} <= set(manifest["roles"])
    assert manifest["roles"] == sorted(manifest["roles"])
    assert manifest["extensions"]["citext"] == source.citext
    assert "plpgsql" in manifest["extensions"]
    listed = json.loads(source.pilot("backups", "--format", "json").out)
    assert listed[0]["roles"] == manifest["roles"] and listed[0]["extensions"] == manifest["extensions"]


def test_restore_refuses_a_server_without_the_recorded_extension_versions(source):
    _edit_manifest(source, extensions={"citext": "99.0", "pilot_no_such_extension": "1.0", "plpgsql": "1.0"})
    source.sql("DELETE FROM contacts")
    before = source.snapshot()

    refused = source.pilot("restore", source.manifest["id"], "--yes", "--discard-writes")

    assert refused.code == 2, refused.out + refused.err
    assert refused.err.count("\n") == 1, refused.err
    assert "(1) extension citext was version 99.0 when the backup was taken but the server offers only" in refused.err
    assert source.citext in refused.err.split("(2)")[0]
    assert "(2) extension pilot_no_such_extension 1.0 was installed when the backup was taken" in refused.err
    assert "install citext 99.0 on the database server, or pass --any-extension-version" in refused.err
    assert "plpgsql" not in refused.err
    assert source.snapshot() == before

    accepted = source.pilot("restore", source.manifest["id"], "--yes", "--discard-writes",
                            "--any-extension-version")

    assert accepted.code == 0, accepted.out + accepted.err
    assert source.sql("SELECT count(*) FROM contacts WHERE email = 'ada@example.com'") == [(1,)]


def test_a_manifest_without_the_records_restores_as_before(source):
    _edit_manifest(source, roles=None, extensions=None)

    result = source.pilot("restore", source.manifest["id"], "--yes", "--discard-writes", "--format", "json")

    assert result.code == 0, result.out + result.err
    assert json.loads(result.out)["pending"] == []


def test_large_objects_are_counted_in_the_manifest_and_compared_by_verify(postgresql_server, tmp_path):
    with scratch_database(postgresql_server, "pilot_f4_lo") as name:
        shop = Shop("postgresql", postgresql_server, name, tmp_path)
        shop.migrate()
        shop.sql("SELECT lo_from_bytea(0, convert_to(repeat('blob', 1000), 'UTF8')) FROM generate_series(1, 3)")
        manifest = shop.backup()

        same = shop.pilot("backups", "--verify", manifest["id"], "--format", "json")
        (oid,) = shop.sql("SELECT min(oid) FROM pg_largeobject_metadata")[0]
        shop.sql(f"SELECT lo_put({oid}, 0, 'BLOB'::bytea)")  # same count, other content
        changed = shop.pilot("backups", "--verify", manifest["id"], "--format", "json")
        shop.sql("SELECT lo_from_bytea(0, 'one more'::bytea)")
        more = shop.pilot("backups", "--verify", manifest["id"])

    assert manifest["large_objects"] == 3
    assert same.code == 0, same.out + same.err
    blobs = {t["table"]: t for t in json.loads(same.out)["tables"]}["(large objects)"]
    assert blobs["matches"] and blobs["live_rows"] == blobs["restored_rows"] == 3
    assert changed.code == 1
    blobs = {t["table"]: t for t in json.loads(changed.out)["tables"]}["(large objects)"]
    assert not blobs["matches"] and blobs["live_rows"] == blobs["restored_rows"] == 3
    assert more.code == 1 and "(large objects): live 4 rows, backup 3 rows" in more.err + more.out
