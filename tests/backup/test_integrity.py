"""G2/G3/G5: a damaged or foreign archive is refused before the target is touched; sequences survive a restore."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from tests.backup.shop import Shop
from tests.databases import scratch_database

SENTINEL = "from customers.models import Customer; Customer.objects.create(name='sentinel', email='s@x.y')"
INSERT = "from customers.models import Customer; Customer.objects.create(name='after restore', email='ar@x.y')"
PG_PLAIN = (b"--\n-- PostgreSQL database dump\n--\n\nSET statement_timeout = 0;\nCREATE TABLE t (id int);\n"
            b"--\n-- PostgreSQL database dump complete\n--\n")


def _sqlite_file(folder: Path) -> bytes:
    path = folder / "foreign.sqlite3"
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY)")
        conn.commit()
    return path.read_bytes()


def _cases(vendor: str, original: bytes, tmp_path: Path) -> dict[str, tuple[bytes, str]]:
    """Name -> (file content, what the refusal must say)."""
    if vendor == "postgresql":
        newer = original[:5] + bytes([original[5], 0x7F]) + original[7:]  # archive format 1.127: a future pg_dump
        return {
            "empty": (b"", "no PGDMP header"),
            "truncated": (original[: len(original) * 2 // 3], "pg_restore cannot read"),
            "text": (b"SELECT 1;\n", "no PGDMP header"),
            "other engine": (_sqlite_file(tmp_path), "no PGDMP header"),
            "newer pg_dump": (newer, "made by a newer pg_dump"),
        }
    if vendor == "sqlite":
        return {
            "empty": (b"", "is not a SQLite database"),
            "truncated": (original[: len(original) // 2], "SQLite"),
            "text": (b"SELECT 1;\n", "is not a SQLite database"),
            "other engine": (b"PGDMP\x01\x0e\x00" + b"\x00" * 200, "is not a SQLite database"),
        }
    return {
        "empty": (b"", "is not a mariadb-dump/mysqldump file"),
        "truncated": (original[: len(original) // 2], "it is truncated"),
        "text": (b"SELECT 1;\n", "is not a mariadb-dump/mysqldump file"),
        "other engine": (PG_PLAIN, "is not a mariadb-dump/mysqldump file"),
    }


def _plant(shop, manifest: dict, content: bytes) -> None:
    """Replace the backup's data and make its manifest agree (as a tampered or mis-made backup would)."""
    Path(manifest["path"]).write_bytes(content)
    path = shop.backups / f"{manifest['id']}.json"
    data = json.loads(path.read_text())
    data["sha256"], data["size"] = hashlib.sha256(content).hexdigest(), len(content)
    path.write_text(json.dumps(data))


def test_damaged_or_foreign_archives_are_refused_and_the_target_is_untouched(shop, tmp_path):
    shop.fill(users=3, customers=60, orders=120)
    manifest = shop.backup()
    original = Path(manifest["path"]).read_bytes()
    shop.shell(SENTINEL)
    before = shop.snapshot()

    for case, (content, says) in _cases(shop.vendor, original, tmp_path).items():
        _plant(shop, manifest, content)

        result = shop.pilot("restore", manifest["id"], "--yes", "--discard-writes")

        assert result.code == 1, (case, result.out + result.err)
        assert says in result.err and result.err.count("\n") == 1, (case, result.err)
        assert shop.snapshot() == before, case


def test_a_backup_of_another_engine_is_refused(shop):
    manifest = shop.backup()
    path = shop.backups / f"{manifest['id']}.json"
    data = json.loads(path.read_text())
    data["vendor"] = "postgresql" if shop.vendor != "postgresql" else "sqlite"
    path.write_text(json.dumps(data))

    result = shop.pilot("restore", manifest["id"], "--yes", "--discard-writes")

    assert result.code == 2, result.out + result.err
    assert f"is of a {data['vendor']} database but alias 'default' is {shop.vendor}" in result.err


def test_after_a_restore_inserts_without_an_id_succeed_and_verify_finds_no_sequence_behind(shop):
    shop.fill(users=3, customers=40, orders=40)
    manifest = shop.backup()
    shop.shell("from customers.models import Customer\n"
               "Customer.objects.bulk_create(Customer(name='x', email=f'{i}@later') for i in range(30))")

    restored = shop.pilot("restore", manifest["id"], "--yes", "--discard-writes")
    shop.shell(INSERT)
    verified = shop.manage("pilot", "verify", "--format", "json")

    assert restored.code == 0, restored.out + restored.err
    kinds = [d["kind"] for d in json.loads(verified.out)["differences"]]
    assert "sequence_behind" not in kinds, verified.out


@pytest.fixture
def pg_shop(postgresql_server, tmp_path):
    with scratch_database(postgresql_server, "pilot_seq_pg") as name:
        shop = Shop("postgresql", postgresql_server, name, tmp_path)
        shop.migrate()
        yield shop


def test_verify_reports_a_postgresql_sequence_behind_its_data(pg_shop):
    """Only PostgreSQL sequences can fall behind: InnoDB raises AUTO_INCREMENT to max(id) + 1 itself, and SQLite
    takes the larger of sqlite_sequence and max(rowid)."""
    shop = pg_shop
    shop.fill(users=3, customers=40, orders=40)
    shop.sql("SELECT setval(pg_get_serial_sequence('customers_customer', 'id'), 1)")

    found = shop.manage("pilot", "verify", "--format", "json")

    assert found.code == 1, found.out + found.err
    (behind,) = [d for d in json.loads(found.out)["differences"] if d["kind"] == "sequence_behind"]
    assert behind["table"] == "customers_customer" and behind["actual"] == "next value 2"
    assert behind["expected"].startswith("next value above max(id) = ")
    shop.sql(behind["fix"])
    shop.shell(INSERT)
    again = shop.manage("pilot", "verify", "--format", "json")
    assert "sequence_behind" not in again.out
