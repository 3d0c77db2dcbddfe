"""A backup killed mid-dump leaves nothing usable and nothing under a final name."""

from __future__ import annotations

import json
import os
import signal
import tempfile
import time
from pathlib import Path

import pytest

from tests.backup.shop import Shop
from tests.databases import scratch_database
from tests.pipeline.project import wait_until


@pytest.fixture
def big_pg_shop(postgresql_server, tmp_path):
    with scratch_database(postgresql_server, "pilot_backup_big") as name:
        shop = Shop("postgresql", postgresql_server, name, tmp_path)
        shop.migrate()
        shop.sql("CREATE TABLE bulk AS SELECT g AS id, md5(g::text) || md5((g * 7)::text) AS payload"
                 " FROM generate_series(1, 2500000) g")
        yield shop


def _temp_files(shop):
    return [p for p in shop.backups.iterdir() if p.name.startswith(".pilot-tmp-")] if shop.backups.exists() else []


def test_killed_backup_is_never_listed(big_pg_shop):
    shop = big_pg_shop
    process = shop.start("backup")
    wait_until(lambda: any(p.stat().st_size > 0 for p in _temp_files(shop)), timeout=60, interval=0.05)

    os.kill(process.pid, signal.SIGKILL)
    process.communicate()

    assert json.loads(shop.pilot("backups", "--format", "json").out) == []
    assert not [p for p in shop.backups.iterdir() if not p.name.startswith(".")]
    time.sleep(0.5)  # the dump child died with its parent (PR_SET_PDEATHSIG)
    assert not shop.sql("SELECT pid FROM pg_stat_activity WHERE application_name = 'pg_dump'"
                        f" AND datname = '{shop.name}'")
    killed_creds = list(Path(tempfile.gettempdir()).glob(f"pilot-cred-{process.pid}-*"))
    fresh = shop.backup()  # the next backup removes the dead process's temporary files
    assert killed_creds and not any(path.exists() for path in killed_creds)
    assert [p.name for p in _temp_files(shop)] == []
    assert [m["id"] for m in json.loads(shop.pilot("backups", "--format", "json").out)] == [fresh["id"]]


def test_backup_blocked_by_a_lock_fails_cleanly(big_pg_shop):
    from tests.databases import admin_connection

    shop = big_pg_shop
    with admin_connection(shop.server, shop.name) as conn:
        conn.execute("BEGIN")
        conn.execute("LOCK TABLE bulk IN ACCESS EXCLUSIVE MODE")
        result = shop.pilot("backup", "--lock-wait", "1s")
        conn.execute("ROLLBACK")

    assert result.code == 1
    assert "pg_dump failed" in result.err and "lock" in result.err
    assert result.err.strip().count("\n") == 0
    assert not list(shop.backups.iterdir())
