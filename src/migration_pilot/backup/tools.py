"""The vendor's own client tools: finding them, checking their version, running them.

A binary is the absolute path the `tools` setting names for it (checked to
be an executable file), else looked up on PATH with relative entries ('.',
'') skipped, so a `pg_dump` dropped in the working directory is never run
(S13). Children get
an allowlisted environment, an argument list (never a shell), umask 077, and
die with us (PR_SET_PDEATHSIG), so a killed backup leaves no dump running.
Their stderr is scrubbed of the password before anyone sees it (S1).
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Final

from migration_pilot.backup.errors import ClientToolError

INSTALL_HINTS: Final = {
    "postgresql": ("Install the PostgreSQL {major} client tools: 'apt install postgresql-client-{major}'"
                   " (Debian/Ubuntu, from apt.postgresql.org), 'dnf install postgresql{major}' (RHEL),"
                   " or 'brew install postgresql@{major}' (macOS), and put them on PATH."),
    "mysql": ("Install the MariaDB or MySQL client: 'apt install mariadb-client' (Debian/Ubuntu),"
              " 'dnf install mariadb' (RHEL) or 'brew install mariadb' (macOS), and put it on PATH."),
}
_ENV_ALLOWED: Final = {"PATH", "HOME", "LANG", "LANGUAGE", "LC_ALL", "LC_CTYPE", "LC_MESSAGES", "TZ", "TMPDIR",
                       "SYSTEMROOT"}
_PG_ENV_PASSTHROUGH: Final = re.compile(r"^PG(SSL|HOST|PORT|USER|SERVICE|CONNECT_TIMEOUT|GSS|KRB|APPNAME|TARGET|"
                                        r"OPTIONS|SYSCONFDIR|TZ|CLIENTENCODING|REQUIRE)")
_URL_AUTH: Final = re.compile(r"(://)[^/@\s]*@")


def search_path() -> list[str]:
    """Absolute PATH entries only: relative ones would resolve against the working directory."""
    return [entry for entry in os.environ.get("PATH", os.defpath).split(os.pathsep)
            if entry and os.path.isabs(entry)]


TOOL_NAMES: Final = ("pg_dump", "pg_restore", "psql", "mariadb-dump", "mysqldump", "mariadb", "mysql")


def configured_tools() -> dict[str, Path]:
    """The `tools` setting (MIGRATION_PILOT or [tool.migration_pilot]): tool name -> absolute path.

    Only absolute paths are accepted: a relative one would be looked up from
    the working directory, which is exactly what S13 forbids.
    """
    from migration_pilot.backup.catalogue import configured

    value: Any = None
    for key in ("tools", "TOOLS"):
        value = configured(key)[0]
        if value is not None:
            break
    if value is None:
        return {}
    example = "{'pg_dump': '/usr/lib/postgresql/15/bin/pg_dump'}"
    if not isinstance(value, Mapping) or not all(isinstance(k, str) and isinstance(v, str)
                                                 for k, v in value.items()):
        raise ClientToolError(f"The tools setting must map tool names to absolute paths, not {value!r}.",
                              hint=f"For example {example}.")
    found: dict[str, Path] = {}
    for name, where in value.items():
        if name not in TOOL_NAMES:
            raise ClientToolError(f"The tools setting names unknown tool {name!r}.",
                                  hint=f"Known tools: {', '.join(TOOL_NAMES)}.")
        if not os.path.isabs(where):
            raise ClientToolError(f"The tools setting gives {name} as {where!r}, which is not an absolute path.",
                                  hint="Give the full path; a relative one would depend on the working directory.")
        found[name] = Path(where)
    return found


def _checked(name: str, path: Path) -> Path:
    """A configured path, refused unless it is an executable regular file."""
    if not (path.is_file() and os.access(path, os.X_OK)):
        why = "does not exist" if not path.exists() else "is not an executable file"
        raise ClientToolError(f"The tools setting gives {name} as {path}, which {why}.",
                              hint=f"Point it at the installed {name}, or remove it to use PATH.")
    return path


def find_tool(names: Sequence[str], *, vendor: str, major: int | None = None) -> Path:
    """The first of `names` set in the tools setting, else found on PATH; or a one-line error naming the package."""
    configured = configured_tools()
    for name in names:
        if name in configured:
            return _checked(name, configured[name])
    path = os.pathsep.join(search_path())
    for name in names:
        found = shutil.which(name, path=path)
        if found:
            return Path(found)
    hint = INSTALL_HINTS[vendor].format(major=major or "")
    raise ClientToolError(f"{' or '.join(names)} is not on PATH, so this database cannot be backed up or restored.",
                          hint=hint.replace("postgresql- ", "postgresql-").replace("@ ", " "))


@functools.cache
def tool_version(path: Path) -> str:
    """The tool's `--version` line, e.g. 'pg_dump (PostgreSQL) 15.20'."""
    try:
        done = subprocess.run([str(path), "--version"], capture_output=True, text=True, timeout=30, check=False,
                              env=child_env({}))
    except OSError as exc:
        raise ClientToolError(f"{path} cannot be run ({exc.strerror}).",
                              hint="Reinstall the database client tools.") from None
    line = (done.stdout or done.stderr).strip().splitlines()
    return line[0] if line else ""


def major_of(version: str) -> int | None:
    """The major version in a `--version` line (15 for '... 15.20 (Debian ...)')."""
    match = re.search(r"\b(\d+)\.(\d+)", version)
    return int(match[1]) if match else None


def require_at_least(path: Path, server_major: int, *, vendor: str) -> str:
    """Check that a PostgreSQL client tool is not older than the server (F1); returns its version."""
    version = tool_version(path)
    major = major_of(version)
    if major is None or major < server_major:
        hint = INSTALL_HINTS[vendor].format(major=server_major)
        raise ClientToolError(
            f"{path} is version {major or 'unknown'} but the server is PostgreSQL {server_major};"
            f" {path.name} must be at least the server's major version.", hint=hint)
    return version


def child_env(extra: Mapping[str, str], *, passthrough: re.Pattern[str] | None = None) -> dict[str, str]:
    """An allowlisted environment: locale, PATH, HOME, and the variables the tool needs."""
    env = {key: value for key, value in os.environ.items()
           if key in _ENV_ALLOWED or (passthrough is not None and passthrough.match(key))}
    env["PATH"] = os.pathsep.join(search_path())
    env.update(extra)
    return env


def pg_env(extra: Mapping[str, str]) -> dict[str, str]:
    """Environment for libpq tools: our PG* values over the user's own (never PGPASSWORD from outside)."""
    return child_env(extra, passthrough=_PG_ENV_PASSTHROUGH)


def scrub(text: str, secrets: Iterable[str]) -> str:
    """Remove every secret (and the authority part of URLs) from tool output."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "********")
    return _URL_AUTH.sub(r"\1********@", text)


def die_with_parent() -> None:  # pragma: no cover - runs in the child
    """In the child before exec: private umask, and SIGKILL when the parent dies."""
    os.umask(0o077)
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL("libc.so.6", use_errno=True)
            libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


@dataclass(frozen=True, slots=True)
class ToolRun:
    """How a child ended: exit status and scrubbed stderr."""

    argv: list[str]
    returncode: int
    stderr: str

    def last_error(self) -> str:
        """The most telling stderr line (errors first), for one-line messages."""
        lines = [line.strip() for line in self.stderr.splitlines() if line.strip()]
        if self.returncode < 0:
            name = signal.Signals(-self.returncode).name if -self.returncode in signal.valid_signals() else "?"
            why = {"SIGXFSZ": " (file size limit reached)", "SIGKILL": " (out of memory, or killed)"}.get(name, "")
            lines.append(f"killed by signal {name}{why}")
        errors = [line for line in lines if "error" in line.lower() or "fatal" in line.lower()]
        return (errors or lines or [f"exit status {self.returncode}"])[0][:400]


def run_tool(argv: Sequence[str], *, env: Mapping[str, str], secrets: Iterable[str] = (),
             stdin: IO[Any] | int | None = None, stdout: IO[Any] | int | None = None,
             poll: Callable[[subprocess.Popen[bytes]], None] | None = None,
             feed: Callable[[IO[bytes]], None] | None = None) -> ToolRun:
    """Run a client tool to completion; `poll` is called about every 0.2 s while it runs.

    With `feed`, the child's stdin is a pipe that `feed` writes (then it is
    closed); otherwise `stdin` is passed through.
    """
    with tempfile.TemporaryFile() as errors:
        process = subprocess.Popen(
            list(argv), env=dict(env), stdin=subprocess.PIPE if feed else (stdin or subprocess.DEVNULL),
            stdout=stdout if stdout is not None else subprocess.DEVNULL, stderr=errors, close_fds=True,
            preexec_fn=die_with_parent)  # umask 077 and the death signal; no threads run here
        try:
            if feed is not None:
                assert process.stdin is not None
                with contextlib.suppress(BrokenPipeError):  # the child stopped reading: its exit status says why
                    feed(process.stdin)
                # On any other error the child is killed below *before* its stdin is closed, so a
                # client such as psql --single-transaction never sees end-of-input and never commits.
                with contextlib.suppress(BrokenPipeError):
                    process.stdin.close()
            while True:
                try:
                    returncode = process.wait(timeout=0.2)
                    break
                except subprocess.TimeoutExpired:
                    if poll is not None:
                        poll(process)
        except BaseException:
            process.kill()
            process.wait()
            with contextlib.suppress(OSError):
                if process.stdin is not None:
                    process.stdin.close()
            raise
        errors.seek(0)
        text = errors.read().decode("utf-8", "replace")
    return ToolRun([Path(argv[0]).name, *argv[1:]], returncode, scrub(text, secrets))


def elapsed_since(started: float) -> float:
    """Seconds since a time.monotonic() reading."""
    return time.monotonic() - started


def describe(name: str, path: Path) -> str:
    """'pg_dump: /usr/bin/pg_dump (pg_dump (PostgreSQL) 15.20), from PATH' for verbose output."""
    source = "from the tools setting" if configured_tools().get(name) == path else "from PATH"
    return f"{name}: {path} ({tool_version(path) or 'version unknown'}), {source}"
