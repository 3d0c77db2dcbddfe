"""A real streaming standby of the local PostgreSQL server, for the replica-lag tests.

`pg_basebackup -R -X stream` copies the primary into a temporary directory
owned by the postgres OS user, and `pg_ctl` starts it on a free port
(through `runuser -u postgres` when the tests run as root: postgres refuses
to run as root). It reports its replay position every second
(wal_receiver_status_interval = 1), so the primary sees a resumed replay
quickly. The standby is stopped and its directory removed whatever happens.

When no standby can be made (no pg_basebackup, no replication permission,
not root nor postgres) the test is skipped with the reason, unless
MIGRATION_PILOT_REQUIRE_DATABASES names postgresql: then it fails.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests import databases

START_TIMEOUT = 30.0


class NoStandby(Exception):
    """Why this machine cannot run a standby for the tests."""


@dataclasses.dataclass(frozen=True)
class Standby:
    """A running standby: how to reach it, and its name in the primary's pg_stat_replication."""

    server: databases.Server
    primary: databases.Server
    application_name: str

    def execute(self, sql: str) -> object:
        """Run one statement on the standby and return the first column of its first row."""
        with databases.admin_connection(self.server) as conn:
            cursor = conn.cursor()
            cursor.execute(sql)
            row = cursor.fetchone()
            cursor.close()
        return row[0] if row else None

    def pause_replay(self) -> None:
        """Stop replaying WAL (it is still received) and wait until recovery says it is paused."""
        self.execute("SELECT pg_wal_replay_pause()")

        def paused() -> bool:
            # Recovery pauses before the next record it replays: on an idle server, write one.
            with databases.admin_connection(self.primary) as conn:
                conn.cursor().execute("SELECT txid_current()")
            return self.execute("SELECT pg_get_wal_replay_pause_state()") == "paused"

        _wait_until(paused, "replay to pause")

    def resume_replay(self) -> None:
        self.execute("SELECT pg_wal_replay_resume()")


def _required() -> bool:
    raw = os.environ.get("MIGRATION_PILOT_REQUIRE_DATABASES", "").lower()
    names = {part.strip() for part in raw.replace(";", ",").split(",")}
    return bool(names & {"postgresql", "postgres", "pg"})


def _wait_until(check: Callable[[], bool], what: str, timeout: float = START_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(0.05)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _bindir(primary: databases.Server) -> Path:
    """The primary's own major version's binaries: pg_basebackup must match the server."""
    with databases.admin_connection(primary) as conn:
        cursor = conn.cursor()
        cursor.execute("SELECT current_setting('server_version_num')::int / 10000,"
                       " current_setting('wal_level'), current_setting('max_wal_senders')::int,"
                       " (SELECT count(*) FROM pg_stat_replication)")
        major, wal_level, senders, used = cursor.fetchone()
        cursor.close()
    if wal_level == "minimal":
        raise NoStandby("the server runs with wal_level = minimal")
    if used + 2 > senders:
        raise NoStandby(f"max_wal_senders = {senders} and {used} in use")
    for bindir in (Path(f"/usr/lib/postgresql/{major}/bin"), ):
        if (bindir / "pg_basebackup").exists():
            return bindir
    found = shutil.which("pg_basebackup")
    if found is None:
        raise NoStandby(f"no pg_basebackup for PostgreSQL {major}")
    return Path(found).parent


def _as_postgres() -> list[str]:
    if os.geteuid() == 0:
        if shutil.which("runuser") is None:
            raise NoStandby("running as root without runuser to become the postgres user")
        return ["runuser", "-u", "postgres", "--"]
    if pwd.getpwuid(os.geteuid()).pw_name != "postgres":
        raise NoStandby("pg_ctl has to run as the postgres OS user (run the tests as root or postgres)")
    return []


def _run(command: list[str], what: str, timeout: float = 60.0) -> None:
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        last = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise NoStandby(f"{what} failed: {last[0]}")


@contextlib.contextmanager
def streaming_standby(primary: databases.Server) -> Iterator[Standby]:
    """A standby streaming from `primary`; stopped and deleted afterwards, whatever happens."""
    prefix = _as_postgres()
    try:
        postgres_user = pwd.getpwnam("postgres")
    except KeyError as exc:
        raise NoStandby("no postgres OS user") from exc
    bindir = _bindir(primary)
    root = Path(tempfile.mkdtemp(prefix="pilot-standby-"))
    data = root / "data"
    name = f"pilot_standby_{uuid.uuid4().hex[:10]}"
    started = slotted = False
    try:
        os.chown(root, postgres_user.pw_uid, postgres_user.pw_gid)
        root.chmod(0o700)
        # A slot keeps the primary's WAL until the standby streams it, so a checkpoint in between cannot
        # remove a segment the standby still needs; it is dropped afterwards.
        slotted = True
        _run([*prefix, str(bindir / "pg_basebackup"), "-h", primary.host, "-p", str(primary.port),
                       "-U", primary.user, "-D", str(data), "-R", "-X", "stream", "-c", "fast", "-w",
                       "-C", "-S", name], "pg_basebackup")
        port = _free_port()
        # A Debian cluster keeps its configuration outside the data directory: give the copy its own.
        settings = {"port": str(port), "listen_addresses": "'127.0.0.1'", "unix_socket_directories": f"'{root}'",
                    "hot_standby": "on", "shared_buffers": "'16MB'", "wal_receiver_status_interval": "1",
                    "logging_collector": "off"}
        config = "".join(f"{key} = {value}\n" for key, value in settings.items())
        conninfo = (f"host={primary.host} port={primary.port} user={primary.user} application_name={name}")
        for filename, text in (("postgresql.conf", config),
                               ("pg_hba.conf", "local all all trust\nhost all all 127.0.0.1/32 trust\n")):
            (data / filename).write_text(text)
            os.chown(data / filename, postgres_user.pw_uid, postgres_user.pw_gid)
        # Later lines of postgresql.auto.conf win: name this standby so the test can find it.
        with open(data / "postgresql.auto.conf", "a") as auto:
            auto.write(f"primary_conninfo = '{conninfo}'\n")
        started = True
        _run([*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-l", str(root / "log"), "-w", "-t",
                       str(int(START_TIMEOUT)), "start"], "pg_ctl start")
        standby = Standby(dataclasses.replace(primary, port=port), primary, name)

        def streaming() -> bool:
            with databases.admin_connection(primary) as conn:
                cursor = conn.cursor()
                cursor.execute("SELECT count(*) FROM pg_stat_replication WHERE application_name = %s"
                               " AND state = 'streaming' AND replay_lsn IS NOT NULL", [name])
                seen = cursor.fetchone()[0]
                cursor.close()
            return bool(seen)

        try:
            _wait_until(streaming, f"{name} to stream from the primary")
        except TimeoutError as exc:
            log = (root / "log").read_text(errors="replace").strip().splitlines()[-1:] or ["empty log"]
            raise NoStandby(f"{exc} (its log: {log[0]})") from exc
        yield standby
    finally:
        if started:
            subprocess.run([*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
                           capture_output=True, timeout=60)
        try:
            if slotted:
                _drop_slot(primary, name)
        finally:
            shutil.rmtree(root, ignore_errors=True)


def _drop_slot(primary: databases.Server, name: str) -> None:
    """Drop the standby's slot once its walsender has gone (it exits a moment after the standby stops)."""
    deadline = time.monotonic() + 10
    with databases.admin_connection(primary) as conn:
        cursor = conn.cursor()
        while True:
            cursor.execute("SELECT active FROM pg_replication_slots WHERE slot_name = %s", [name])
            row = cursor.fetchone()
            if row is None:
                return
            if not row[0] or time.monotonic() > deadline:
                cursor.execute("SELECT pg_drop_replication_slot(%s)", [name])
                return
            time.sleep(0.05)


@pytest.fixture
def pg_standby(postgresql_server) -> Iterator[Standby]:
    """A streaming standby of the test PostgreSQL server (skipped, or failed when required, if impossible)."""
    with contextlib.ExitStack() as stack:
        try:
            standby = stack.enter_context(streaming_standby(postgresql_server))
        except NoStandby as exc:
            if _required():
                pytest.fail(f"postgresql is required by MIGRATION_PILOT_REQUIRE_DATABASES but no standby: {exc}")
            pytest.skip(f"no PostgreSQL standby: {exc}")
        yield standby
