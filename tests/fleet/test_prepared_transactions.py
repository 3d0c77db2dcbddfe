"""--atomic-fleet against a server with prepared transactions off, and the decision when too few are free."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile

import pytest

from migration_pilot.fleet.atomic import Capacity, PreparedTransactionsUnavailableError, capacity, window
from tests.databases import Server, admin_connection, scratch_database
from tests.fleet.project import FleetProject


def _bindir() -> str | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return os.path.dirname(found[-1]) if found else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def prepared_off_server():
    """A throwaway PostgreSQL cluster (about a second to start) with max_prepared_transactions = 0."""
    bindir = _bindir()
    if bindir is None:
        pytest.skip("initdb not found (PostgreSQL server binaries not installed)")
    as_postgres = os.getuid() == 0
    if as_postgres and shutil.which("su") is None:
        pytest.skip("running as root without 'su' to run initdb as postgres")
    root = tempfile.mkdtemp(prefix="pilot-pg0-")
    port = _free_port()

    def run(command: str) -> None:
        args = ["su", "postgres", "-c", command] if as_postgres else ["sh", "-c", command]
        subprocess.run(args, check=True, capture_output=True, timeout=60)

    try:
        if as_postgres:
            shutil.chown(root, "postgres")
        run(f"{bindir}/initdb -D {root}/data -A trust -U postgres --no-sync")
        run(f"{bindir}/pg_ctl -D {root}/data -l {root}/log -w -o '-p {port} -k {root} -c listen_addresses=127.0.0.1"
            " -c fsync=off -c max_prepared_transactions=0' start")
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
        subprocess.run((["su", "postgres", "-c"] if as_postgres else ["sh", "-c"])
                       + [f"{bindir}/pg_ctl -D {root}/data -m immediate stop"], capture_output=True, check=False)
        shutil.rmtree(root, ignore_errors=True)
        pytest.skip(f"could not start a throwaway PostgreSQL cluster: {exc}")
    try:
        yield Server("postgresql", "127.0.0.1", port, "postgres")
    finally:
        subprocess.run((["su", "postgres", "-c"] if as_postgres else ["sh", "-c"])
                       + [f"{bindir}/pg_ctl -D {root}/data -m immediate stop"], capture_output=True, check=False)
        shutil.rmtree(root, ignore_errors=True)


def test_atomic_fleet_refuses_when_prepared_transactions_are_off(prepared_off_server, tmp_path, scratch_db_access):
    with scratch_database(prepared_off_server, "pilot_fleet") as name:
        project = FleetProject(tmp_path / "project", prepared_off_server, name)
        project.schemas(["tenant_a", "tenant_b"])
        assert project.fleet().code == 0
        project.add_note()

        result = project.fleet("--atomic-fleet")

        assert result.code == 2, result.out + result.err
        assert ("--atomic-fleet needs 2 prepared transactions at once, but the server has prepared transactions off"
                " (max_prepared_transactions = 0). Set max_prepared_transactions = 2 or more") in result.err
        assert project.sql("SELECT count(*) FROM tenant_a.django_migrations WHERE name = '0002_note'") == [(0,)]


def test_window_refused_when_too_few_are_free_on_the_real_server(postgresql_server, scratch_db_access):
    with admin_connection(postgresql_server) as conn:
        cap = capacity(conn.cursor())

    with pytest.raises(PreparedTransactionsUnavailableError) as raised:
        window(cap, cap.free + 1, None)

    assert f"Set max_prepared_transactions = {cap.in_use + cap.free + 1} or more" in str(raised.value)


def test_window_is_the_requested_bound():
    assert window(Capacity(200, 10), 1000, 50) == 50
    assert window(Capacity(200, 10), 5, None) == 5
    with pytest.raises(PreparedTransactionsUnavailableError):
        window(Capacity(0, 0), 5, 1)
