"""A backup killed mid-dump leaves nothing usable and nothing under a final name."""

from __future__ import annotations

import json
import os
import signal
import tempfile
from pathlib import Path

import pytest

from tests.backup.shop import Shop
from tests.databases import scratch_database
from tests.pipeline.project import wait_until


def _pg_shop(server, tmp_path, rows):
    with scratch_database(server, "pilot_backup_big") as name:
        shop = Shop("postgresql", server, name, tmp_path)
        shop.migrate()
        shop.sql("CREATE TABLE bulk AS SELECT g AS id, md5(g::text) || md5((g * 7)::text) AS payload"
                 f" FROM generate_series(1, {rows}) g")
        yield shop


@pytest.fixture
def big_pg_shop(postgresql_server, tmp_path):
    """A table whose dump takes seconds, so the kill lands mid-dump."""
    yield from _pg_shop(postgresql_server, tmp_path, 2_500_000)


@pytest.fixture
def small_pg_shop(postgresql_server, tmp_path):
    yield from _pg_shop(postgresql_server, tmp_path, 10)


def _temp_files(shop):
    return [p for p in shop.backups.iterdir() if p.name.startswith(".pilot-tmp-")] if shop.backups.exists() else []


def _dump_sessions(shop):
    return shop.sql("SELECT pid FROM pg_stat_activity WHERE application_name = 'pg_dump'"
                    f" AND datname = '{shop.name}'")


def test_killed_backup_is_never_listed(big_pg_shop):
    shop = big_pg_shop
    process = shop.start("backup")
    wait_until(lambda: any(p.stat().st_size > 0 for p in _temp_files(shop)), timeout=60, interval=0.05)
    # Listed while the process lives: once it is dead, any other backup on this machine (the other
    # Django leg's) may already clean them up.
    killed_creds = list(Path(tempfile.gettempdir()).glob(f"pilot-cred-{process.pid}-*"))

    os.kill(process.pid, signal.SIGKILL)
    process.communicate()

    assert json.loads(shop.pilot("backups", "--format", "json").out) == []
    assert not [p for p in shop.backups.iterdir() if not p.name.startswith(".")]
    # The dump child dies with its parent (PR_SET_PDEATHSIG); its server session ends when the
    # backend notices the closed socket, which on a loaded machine can take seconds: wait for it.
    wait_until(lambda: not _dump_sessions(shop), timeout=60, interval=0.1)
    shop.sql("DROP TABLE bulk")  # the dump below only has to run, not to take long
    fresh = shop.backup()  # the next backup removes the dead process's temporary files
    assert killed_creds and not any(path.exists() for path in killed_creds)
    assert [p.name for p in _temp_files(shop)] == []
    assert [m["id"] for m in json.loads(shop.pilot("backups", "--format", "json").out)] == [fresh["id"]]


def test_backup_blocked_by_a_lock_fails_cleanly(small_pg_shop):
    from tests.databases import admin_connection

    shop = small_pg_shop
    with admin_connection(shop.server, shop.name) as conn:
        conn.execute("BEGIN")
        conn.execute("LOCK TABLE bulk IN ACCESS EXCLUSIVE MODE")
        result = shop.pilot("backup", "--lock-wait", "1s")
        conn.execute("ROLLBACK")

    assert result.code == 1
    assert "pg_dump failed" in result.err and "lock" in result.err
    assert result.err.strip().count("\n") == 0
    assert [p.name for p in shop.backups.iterdir()] in ([], [".gitignore"])
