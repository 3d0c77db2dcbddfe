"""S6: a dump carrying a client shell escape (`\\!`) never runs it, even when its checksum matches.

The dump is made by `pilot backup`, then edited the way a hostile server or
anyone able to write the backup directory could (CVE-2025-8714), and its
manifest's sha256 and size are re-made so every integrity check passes. The
restore must fail or ignore the line, and the marker file must never appear.

- MariaDB: the plain SQL dump gets `\\! touch marker` as its first line, before
  the dump's own sandbox line; `mariadb --binary-mode` parses no client
  command but `\\C` and DELIMITER, so the line is an error.
- PostgreSQL: the custom-format archive's COMMENT entry is rewritten, at the
  same length, into `...'x';` + a `\\! touch marker` line. Restored through
  psql (an in-place restore with relations to drop), pg_restore's script
  starts with `\\restrict`, so psql refuses every meta-command; restored by
  pg_restore into a new database, the line goes to the server as SQL and is a
  syntax error.

Each test first shows the client *would* run the line when fed directly, so a
passing test means the product's way of running it is what keeps it inert.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.backup.shop import Shop
from tests.databases import admin_connection, scratch_database

PLACEHOLDER = "P" * 200


def _plant(manifest: dict, old: bytes, new: bytes) -> None:
    """Replace `old` by `new` once in the backup file, then re-make the manifest's sha256 and size to match."""
    path = Path(manifest["path"])
    data = path.read_bytes()
    assert data.count(old) == 1
    path.write_bytes(data.replace(old, new))
    manifest_path = path.with_name(manifest["id"] + ".json")
    recorded = json.loads(manifest_path.read_text())
    recorded["sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
    recorded["size"] = path.stat().st_size
    manifest_path.write_text(json.dumps(recorded, indent=2, sort_keys=True) + "\n")


def _client_env(server) -> dict[str, str]:
    return {**os.environ, "PGHOST": server.host, "PGPORT": str(server.port), "PGUSER": server.user}


def test_mariadb_dump_with_a_shell_escape_runs_nothing(mysql_server, tmp_path):
    client = shutil.which("mariadb") or shutil.which("mysql")
    if client is None:
        pytest.skip("no mariadb client")
    marker, control = tmp_path / "pwned", tmp_path / "control"
    with scratch_database(mysql_server, "pilot_s6") as name:
        shop = Shop("mysql", mysql_server, name, tmp_path)
        shop.migrate()
        shop.fill(users=2, customers=5, orders=5)
        manifest = shop.backup()
        first_line = Path(manifest["path"]).read_bytes().split(b"\n", 1)[0] + b"\n"
        _plant(manifest, first_line, f"\\! touch {marker}\n".encode() + first_line)
        before = shop.snapshot()
        direct = subprocess.run([client, f"--host={mysql_server.host}", f"--port={mysql_server.port}",
                                 f"--user={mysql_server.user}"], input=f"\\! touch {control}\n", text=True,
                                capture_output=True, check=False)

        result = shop.pilot("restore", manifest["id"], "--yes", "--discard-writes")

        assert direct.returncode == 0 and control.exists(), direct.stderr  # the client runs \! when not guarded
        assert not marker.exists()
        assert result.code == 1, result.out + result.err
        assert result.err.count("\n") == 1 and "Unknown command '\\!'" in result.err, result.err
        assert shop.snapshot() == before


@pytest.fixture
def pg_planted(postgresql_server, tmp_path):
    """The shop on PostgreSQL, backed up with a COMMENT turned into a `\\! touch marker` line."""
    marker = tmp_path / "pwned"
    with scratch_database(postgresql_server, "pilot_s6") as name:
        shop = Shop("postgresql", postgresql_server, name, tmp_path)
        shop.migrate()
        shop.fill(users=2, customers=5, orders=5)
        with admin_connection(postgresql_server, name) as conn:
            conn.execute(f"COMMENT ON TABLE customers_customer IS '{PLACEHOLDER}'")
        manifest = shop.backup()
        old = f"'{PLACEHOLDER}';".encode()
        new = f"'x';\n\\! touch {marker}\n-- ".encode()
        _plant(manifest, old, new + b"-" * (len(old) - len(new)))
        yield shop, manifest, marker


def test_psql_never_runs_a_shell_escape_planted_in_the_archive(pg_planted, tmp_path):
    shop, manifest, marker = pg_planted
    control = tmp_path / "control"
    shop.sql("CREATE TABLE made_later (id integer PRIMARY KEY)")  # something to drop: the restore goes through psql
    before = shop.snapshot()
    direct = subprocess.run(["psql", "-X", "-q", "-d", "postgres"], input=f"\\! touch {control}\n", text=True,
                            capture_output=True, env=_client_env(shop.server), check=False)

    result = shop.pilot("restore", manifest["id"], "--yes", "--discard-writes")

    assert direct.returncode == 0 and control.exists(), direct.stderr  # psql runs \! when not restricted
    assert not marker.exists()
    assert result.code == 1, result.out + result.err
    assert result.err.count("\n") == 1 and "backslash commands are restricted" in result.err, result.err
    assert shop.snapshot() == before and "made_later" in shop.tables()  # rolled back: nothing changed


def test_pg_restore_into_a_new_database_never_runs_a_shell_escape(pg_planted):
    shop, manifest, marker = pg_planted
    target = f"{shop.name}_copy"

    try:
        result = shop.pilot("restore", manifest["id"], "--yes", "--target", target)

        assert not marker.exists()
        assert result.code == 1, result.out + result.err
        assert result.err.count("\n") == 1 and "syntax error" in result.err, result.err
        with admin_connection(shop.server) as conn:
            assert not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [target]).fetchall()
    finally:
        with admin_connection(shop.server) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {target} WITH (FORCE)")
