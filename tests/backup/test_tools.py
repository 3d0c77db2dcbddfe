"""Missing or old client tools: a one-line error naming the package, and nothing written (F1, S13)."""

from __future__ import annotations

import os
import shutil

import pytest

from tests.backup.shop import Shop
from tests.databases import scratch_database


@pytest.fixture
def pg_shop(postgresql_server, tmp_path):
    with scratch_database(postgresql_server, "pilot_backup_tools") as name:
        shop = Shop("postgresql", postgresql_server, name, tmp_path)
        shop.migrate()
        yield shop


def _shim_dir(tmp_path, version):
    """A PATH entry whose pg_dump claims `version` and whose other tools are the real ones."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "pg_dump").write_text(f"#!/bin/sh\necho 'pg_dump (PostgreSQL) {version}'\nexit 1\n")
    (bin_dir / "pg_dump").chmod(0o755)
    for tool in ("pg_restore", "psql"):
        (bin_dir / tool).symlink_to(shutil.which(tool))
    return bin_dir


def test_missing_pg_dump_names_the_package(pg_shop, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()

    result = pg_shop.pilot("backup", env={**pg_shop.env, "PATH": str(empty)})

    assert result.code == 2
    assert result.err.count("\n") == 1
    assert "pg_dump is not on PATH" in result.err
    assert "apt install postgresql-client-15" in result.err
    assert not pg_shop.backups.exists() or [p.name for p in pg_shop.backups.iterdir()] in ([], [".gitignore"])


def test_old_pg_dump_is_refused_before_dumping(pg_shop, tmp_path):
    bin_dir = _shim_dir(tmp_path, "13.4")

    result = pg_shop.pilot("backup", env={**pg_shop.env, "PATH": f"{bin_dir}:{os.environ['PATH']}"})

    assert result.code == 2
    assert "is version 13 but the server is PostgreSQL 15" in result.err
    assert "postgresql-client-15" in result.err
    assert [p.name for p in pg_shop.backups.iterdir()] in ([], [".gitignore"])


def test_pg_dump_in_the_working_directory_is_never_run(pg_shop, tmp_path):
    marker = tmp_path / "ran"
    fake = pg_shop.cwd / "pg_dump"
    fake.write_text(f"#!/bin/sh\ntouch {marker}\nexit 1\n")
    fake.chmod(0o755)

    result = pg_shop.pilot("backup", env={**pg_shop.env, "PATH": f".:{os.environ['PATH']}"})

    assert result.code == 0, result.err
    assert not marker.exists()


def test_missing_mysql_client_names_the_package(mysql_server, tmp_path):
    with scratch_database(mysql_server, "pilot_backup_tools") as name:
        shop = Shop("mysql", mysql_server, name, tmp_path)
        shop.migrate()
        empty = tmp_path / "empty"
        empty.mkdir()

        result = shop.pilot("backup", env={**shop.env, "PATH": str(empty)})

    assert result.code == 2
    assert "mariadb-dump or mysqldump is not on PATH" in result.err
    assert "apt install mariadb-client" in result.err
