"""A deploy through a transaction-pooling PgBouncer is refused before any change (A3)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from tests.databases import scratch_database
from tests.pipeline.inspect_db import query
from tests.pipeline.project import DeployProject, database_settings

PGBOUNCER = shutil.which("pgbouncer") or ("/usr/sbin/pgbouncer" if os.path.exists("/usr/sbin/pgbouncer") else None)


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def pgbouncer(postgresql_server):
    if PGBOUNCER is None:
        required = "postgresql" in os.environ.get("MIGRATION_PILOT_REQUIRE_DATABASES", "")
        if required:
            pytest.fail("pgbouncer is required with PostgreSQL in CI but is not installed (apt-get install pgbouncer)")
        pytest.skip("pgbouncer is not installed (apt-get install pgbouncer)")
    port = free_port()
    # Its own directory: pgbouncer drops to the postgres user, who cannot enter pytest's 0700 tmp_path.
    tmp_path = Path(tempfile.mkdtemp(prefix="pilot-pgbouncer-"))
    tmp_path.chmod(0o755)
    (tmp_path / "users.txt").write_text(f'"{postgresql_server.user}" ""\n')
    (tmp_path / "pgbouncer.ini").write_text(
        "[databases]\n* = host=127.0.0.1 port=5432\n[pgbouncer]\n"
        f"listen_addr = 127.0.0.1\nlisten_port = {port}\nauth_type = trust\n"
        f"auth_file = {tmp_path / 'users.txt'}\npool_mode = transaction\n"
        f"unix_socket_dir =\nlogfile = {tmp_path / 'pgbouncer.log'}\npidfile = {tmp_path / 'pgbouncer.pid'}\n"
        "ignore_startup_parameters = extra_float_digits,options\n")
    user = [] if os.geteuid() != 0 else ["-u", "postgres"]
    if user:
        shutil.chown(tmp_path, "postgres")
        for name in ("users.txt", "pgbouncer.ini"):
            shutil.chown(tmp_path / name, "postgres")
    process = subprocess.Popen([PGBOUNCER, *user, str(tmp_path / "pgbouncer.ini")],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.1)
    yield port
    process.terminate()
    process.wait(timeout=10)
    shutil.rmtree(tmp_path, ignore_errors=True)


def test_deploy_through_transaction_pooler_is_refused(postgresql_server, pgbouncer, tmp_path):
    with scratch_database(postgresql_server, "pilot_pool") as name:
        settings = database_settings("postgresql", postgresql_server, name)
        settings["PORT"] = str(pgbouncer)
        settings["DISABLE_SERVER_SIDE_CURSORS"] = True
        project = DeployProject(tmp_path / "p", settings)

        result = project.deploy()
        tables = query("postgresql", postgresql_server, name,
                       "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")

    assert result.code == 2, result.out + result.err
    assert "transaction-pooling proxy" in result.err
    assert tables == []


def test_direct_connection_is_accepted(deployable):
    project, vendor, *_ = deployable

    assert project.deploy().code == 0
