"""E5: a restore says what was written since the backup and refuses to throw it away without --discard-writes."""

from __future__ import annotations

import json

from tests.backup.shop import CHANGE

NEW_CUSTOMER = "from customers.models import Customer; Customer.objects.create(name='late', email='late@x.y')"


def test_manifest_records_the_write_position(shop):
    manifest = shop.backup()

    where = manifest["write_position"]
    assert where["vendor"] == shop.vendor and "error" not in where, where
    if shop.vendor == "postgresql":
        assert "/" in where["wal_lsn"] and where["xact_commit"] > 0
        assert {"tup_inserted", "tup_updated", "tup_deleted"} <= set(where)
        assert "customers_customer" in where["tables"]
    elif shop.vendor == "mysql":
        assert "customers_customer" in where["tables"] and "gtid" in where
    else:
        assert where["change_counter"] > 0 and where["journal_mode"] == "delete"


def test_restore_without_writes_since_goes_ahead(shop):
    manifest = shop.backup()

    result = shop.pilot("restore", manifest["id"], "--yes", "--format", "json")

    assert result.code == 0, result.out + result.err
    assert json.loads(result.out)["writes_since_backup"]["changed"] is False


def test_restore_refuses_to_discard_writes_made_since_the_backup(shop):
    shop.fill(users=2, customers=10, orders=10)
    manifest = shop.backup()
    shop.shell(NEW_CUSTOMER)
    after = shop.snapshot()

    result = shop.pilot("restore", manifest["id"], "--yes")

    assert result.code == 2, result.out + result.err
    assert result.err.startswith(f"error: Refusing to restore backup {manifest['id']}")
    assert result.err.count("\n") == 1
    assert "--discard-writes" in result.err
    if shop.vendor == "postgresql":
        assert "1 row(s) written in 1 table(s) since: customers_customer (1)" in result.err
        assert "of WAL on the whole server" in result.err
    elif shop.vendor == "mysql":
        assert "table(s) changed since: customers_customer" in result.err
    else:
        assert "the database file changed since" in result.err
    assert shop.snapshot() == after


def test_discard_writes_restores_and_says_what_was_discarded(shop):
    shop.fill(users=2, customers=10, orders=10)
    before = shop.snapshot()
    manifest = shop.backup()
    shop.shell(CHANGE)

    result = shop.pilot("restore", manifest["id"], "--yes", "--discard-writes")

    assert result.code == 0, result.out + result.err
    assert "Discarded what was written since the backup (--discard-writes):" in result.out
    assert shop.snapshot() == before


def test_a_backup_without_a_position_cannot_tell_and_is_refused(shop):
    manifest = shop.backup()
    path = shop.backups / f"{manifest['id']}.json"
    data = json.loads(path.read_text())
    del data["write_position"]
    path.write_text(json.dumps(data))

    refused = shop.pilot("restore", manifest["id"], "--yes")
    allowed = shop.pilot("restore", manifest["id"], "--yes", "--discard-writes")

    assert refused.code == 2 and "records no write position" in refused.err, refused.err
    assert allowed.code == 0, allowed.out + allowed.err
