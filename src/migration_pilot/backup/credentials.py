"""Hand database credentials to client tools without putting them on a command line (S2).

PostgreSQL tools get host, port and user in PG* variables and the password
in a PGPASSFILE; MySQL/MariaDB tools get everything in a --defaults-extra-file.
Both files are created 0600 inside a fresh 0700 directory (mkdtemp) and
deleted when the tool has finished, whatever happened; the directory name
carries our pid, so the leftovers of a SIGKILLed run are removed by the next. MYSQL_PWD is not used:
MySQL deprecated it because some `ps` versions show the environment.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from migration_pilot.backup.catalogue import create_private_file

_PG_OPTIONS = {"sslmode": "PGSSLMODE", "sslrootcert": "PGSSLROOTCERT", "sslcert": "PGSSLCERT",
               "sslkey": "PGSSLKEY", "sslcrl": "PGSSLCRL", "service": "PGSERVICE", "passfile": "PGPASSFILE",
               "target_session_attrs": "PGTARGETSESSIONATTRS"}


@dataclass(frozen=True, slots=True)
class ToolCredentials:
    """What a child tool needs: extra environment, leading arguments, and the secrets to scrub."""

    env: dict[str, str] = field(default_factory=dict)
    leading_args: list[str] = field(default_factory=list)
    secrets: tuple[str, ...] = ()


def _pg_passfile_line(password: str) -> str:
    escaped = password.replace("\\", "\\\\").replace(":", "\\:")
    return f"*:*:*:*:{escaped}\n"


def _write_private(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    fd = create_private_file(path)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    return path


_PREFIX = "pilot-cred-"


def cleanup_stale() -> None:
    """Remove credential directories of our own processes that were killed before cleaning up."""
    from migration_pilot.backup.catalogue import process_alive

    root = Path(tempfile.gettempdir())
    with contextlib.suppress(OSError):
        for entry in root.glob(f"{_PREFIX}*-*"):
            pid = entry.name[len(_PREFIX):].split("-", 1)[0]
            with contextlib.suppress(OSError):
                if pid.isdigit() and entry.lstat().st_uid == os.getuid() and not process_alive(int(pid)):
                    shutil.rmtree(entry, ignore_errors=True)


@contextlib.contextmanager
def _private_dir() -> Iterator[Path]:
    cleanup_stale()
    directory = Path(tempfile.mkdtemp(prefix=f"{_PREFIX}{os.getpid()}-"))  # mode 0700, random name
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@contextlib.contextmanager
def postgresql(settings: Mapping[str, Any]) -> Iterator[ToolCredentials]:
    """libpq environment for `settings` (a DATABASES entry); the password goes in a PGPASSFILE."""
    env: dict[str, str] = {}
    if settings.get("HOST"):
        env["PGHOST"] = str(settings["HOST"])
    if settings.get("PORT"):
        env["PGPORT"] = str(settings["PORT"])
    if settings.get("USER"):
        env["PGUSER"] = str(settings["USER"])
    options = settings.get("OPTIONS") or {}
    for key, variable in _PG_OPTIONS.items():
        if options.get(key):
            env[variable] = str(options[key])
    password = str(settings.get("PASSWORD") or "")
    with _private_dir() as directory:
        if password:
            env["PGPASSFILE"] = str(_write_private(directory, "pgpass", _pg_passfile_line(password)))
        yield ToolCredentials(env=env, secrets=(password,) if password else ())


def _option_value(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


@contextlib.contextmanager
def mysql(settings: Mapping[str, Any]) -> Iterator[ToolCredentials]:
    """A --defaults-extra-file (which must be the tool's first argument) for `settings`."""
    options = settings.get("OPTIONS") or {}
    lines = ["[client]"]
    user = settings.get("USER") or options.get("user")
    password = str(settings.get("PASSWORD") or options.get("password") or options.get("passwd") or "")
    host = settings.get("HOST") or options.get("host")
    port = settings.get("PORT") or options.get("port")
    socket = options.get("unix_socket")
    if host and str(host).startswith("/"):
        socket, host = host, None
    for key, value in (("user", user), ("password", password), ("host", host), ("port", port),
                       ("socket", socket)):
        if value:
            lines.append(f"{key}={_option_value(str(value))}")
    ssl = options.get("ssl") or {}
    for key in ("ca", "cert", "key"):
        if ssl.get(key):
            lines.append(f"ssl-{key}={_option_value(str(ssl[key]))}")
    if options.get("charset"):
        lines.append(f"default-character-set={_option_value(str(options['charset']))}")
    with _private_dir() as directory:
        path = _write_private(directory, "client.cnf", "\n".join(lines) + "\n")
        yield ToolCredentials(leading_args=[f"--defaults-extra-file={path}"],
                              secrets=(password,) if password else ())
