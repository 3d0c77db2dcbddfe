"""PostgreSQL specifics: large objects and sequences come back, parallel dumps and restores."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from tests.backup.shop import CHANGE, Shop
from tests.databases import scratch_database


@pytest.fixture
def pg_shop(postgresql_server, tmp_path):
    with scratch_database(postgresql_server, "pilot_backup_pg") as name:
        shop = Shop("postgresql", postgresql_server, name, tmp_path)
        shop.migrate()
        yield shop


def test_large_objects_and_sequences_come_back(pg_shop):
    pg_shop.fill(users=3, customers=30, orders=30)
    pg_shop.sql("SELECT lo_from_bytea(0, convert_to(repeat('blob', 1000), 'UTF8')) FROM generate_series(1, 3)")
    manifest = pg_shop.backup()
    pg_shop.sql("SELECT lo_unlink(oid) FROM pg_largeobject_metadata")
    pg_shop.shell(CHANGE)

    result = pg_shop.pilot("restore", manifest["id"], "--yes", "--discard-writes")

    assert result.code == 0, result.err
    assert pg_shop.sql("SELECT count(*) FROM pg_largeobject_metadata") == [(3,)]
    pg_shop.shell("from customers.models import Customer; Customer.objects.create(name='x', email='seq@x.y')")


def test_parallel_backup_and_restore_use_the_directory_format(pg_shop):
    pg_shop.fill(users=3, customers=50, orders=80)
    before = pg_shop.snapshot()
    manifest = pg_shop.backup("--jobs", "2")
    pg_shop.shell(CHANGE)
    pg_shop.sql("CREATE TABLE made_later (id int PRIMARY KEY, customer_id bigint REFERENCES customers_customer (id))")

    result = pg_shop.pilot("restore", manifest["id"], "--yes", "--discard-writes", "--jobs", "2", "--format", "json")

    assert manifest["format"] == "pg-directory" and manifest["path"].endswith(".dumpdir")
    assert result.code == 0, result.err
    assert json.loads(result.out)["dropped"] == ["public.made_later"]
    assert pg_shop.snapshot() == before


@pytest.mark.parametrize("made_later", [False, True], ids=["pg_restore", "through-psql"])
def test_failed_restore_leaves_the_database_untouched(pg_shop, made_later):
    pg_shop.fill(users=3, customers=300, orders=600)
    manifest = pg_shop.backup()
    pg_shop.shell(CHANGE)
    if made_later:  # a relation the backup lacks: restored through psql in one transaction
        pg_shop.sql("CREATE TABLE made_later (id int)")
    changed = pg_shop.snapshot()
    with open(manifest["path"], "r+b") as handle:
        handle.truncate(manifest["size"] - 3000)
    content = Path(manifest["path"]).read_bytes()
    path = pg_shop.backups / f"{manifest['id']}.json"
    data = json.loads(path.read_text())
    data["sha256"], data["size"] = hashlib.sha256(content).hexdigest(), len(content)
    path.write_text(json.dumps(data))

    result = pg_shop.pilot("restore", manifest["id"], "--yes", "--discard-writes")

    assert result.code == 1, result.out + result.err
    # Refused by the full read before the target is touched (G2), or rolled back by pg_restore's transaction.
    assert any(said in result.err.lower() for said in ("refusing to restore it", "nothing changed",
                                                       "nothing was committed"))
    assert pg_shop.snapshot() == changed
