"""Passwords reach pg_dump and mariadb-dump through private files, never argv, logs or manifests (S2, S12)."""

from __future__ import annotations

import contextlib
import os
import stat
import uuid
from pathlib import Path

from tests.backup.shop import PASSWORD, Shop
from tests.databases import admin_connection, scratch_database


def _processes():
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                yield entry, (entry / "cmdline").read_bytes().split(b"\0")


def _watch(shop, tool_names, *args):
    """Run `pilot backup` and sample every process while it runs."""
    process = shop.start("backup", *args)
    seen_tool, leaks, files = False, [], []
    while process.poll() is None:
        for entry, argv in _processes():
            if PASSWORD.encode() in b" ".join(argv):
                leaks.append(argv)
            if argv and os.path.basename(argv[0]).decode() in tool_names:
                seen_tool = True
                with contextlib.suppress(OSError):
                    for pair in (entry / "environ").read_bytes().split(b"\0"):
                        if pair.startswith(b"PGPASSFILE="):
                            files.append(Path(pair.split(b"=", 1)[1].decode()))
                        assert not pair.startswith(b"PGPASSWORD=")
                        assert not pair.startswith(b"MYSQL_PWD=")
                    for arg in argv:
                        if arg.startswith(b"--defaults-extra-file="):
                            files.append(Path(arg.split(b"=", 1)[1].decode()))
                    for path in files:
                        with contextlib.suppress(FileNotFoundError):
                            assert stat.S_IMODE(path.stat().st_mode) == 0o600
                            assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    out, err = process.communicate()
    return process.returncode, out, err, seen_tool, leaks, files


def _everything_written(shop, out, err):
    text = out + err
    for path in shop.backups.rglob("*"):
        if path.is_file():
            text += path.read_bytes().decode("latin-1")
    return text


def test_postgresql_password_never_on_a_command_line(postgresql_server, tmp_path):
    with scratch_database(postgresql_server, "pilot_backup_pw") as name:
        shop = Shop("postgresql", postgresql_server, name, tmp_path, password=PASSWORD)
        shop.migrate()
        shop.sql("CREATE TABLE bulk AS SELECT g AS id, md5(g::text) AS payload FROM generate_series(1, 600000) g")

        code, out, err, seen, leaks, files = _watch(shop, {"pg_dump"})

        assert code == 0, err
        assert seen and not leaks
        assert files and all(not path.exists() for path in files)
        assert PASSWORD not in _everything_written(shop, out, err)


def test_mysql_password_never_on_a_command_line(mysql_server, tmp_path):
    user = f"pilot_pw_{uuid.uuid4().hex[:6]}"
    with scratch_database(mysql_server, "pilot_backup_pw") as name:
        with admin_connection(mysql_server) as conn:
            cursor = conn.cursor()
            cursor.execute(f"CREATE USER '{user}'@'%' IDENTIFIED BY '{PASSWORD}'")
            cursor.execute(f"GRANT ALL ON {name}.* TO '{user}'@'%'")
            cursor.close()
        try:
            from dataclasses import replace

            shop = Shop("mysql", replace(mysql_server, user=user), name, tmp_path, password=PASSWORD)
            shop.migrate()
            with admin_connection(mysql_server, name) as conn:
                cursor = conn.cursor()
                cursor.execute("CREATE TABLE bulk (id INT PRIMARY KEY, payload VARCHAR(64))")
                cursor.execute("INSERT INTO bulk SELECT seq, MD5(seq) FROM seq_1_to_300000")
                cursor.close()

            code, out, err, seen, leaks, files = _watch(shop, {"mariadb-dump", "mysqldump"})

            assert code == 0, err
            assert seen and not leaks
            assert files and all(not path.exists() for path in files)
            assert PASSWORD not in _everything_written(shop, out, err)
        finally:
            with admin_connection(mysql_server) as conn:
                cursor = conn.cursor()
                cursor.execute(f"DROP USER IF EXISTS '{user}'@'%'")
                cursor.close()
