"""PostgreSQL: pg_dump custom format (directory format for --jobs > 1), pg_restore --exit-on-error.

One pg_dump is one snapshot, so the backup is consistent while the
application writes; large objects come along because the whole database is
dumped. A restore into an existing database uses --clean --if-exists and one
transaction (jobs == 1). Relations that exist live but not in the archive
(a table a failed migration created) are dropped too, so the database ends
exactly at the backup's state: with jobs == 1 inside the restore's own
transaction (pg_restore's script piped into psql --single-transaction), with
parallel jobs just before pg_restore starts.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Final

from migration_pilot.backup import credentials, tools
from migration_pilot.backup.errors import BackupError, CorruptBackupError, RestoreError
from migration_pilot.backup.progress import Meter, bytes_on_disk, bytes_read_by

_TOC_RELATION: Final = re.compile(
    r"^\d+; \d+ \d+ (MATERIALIZED VIEW|FOREIGN TABLE|TABLE|VIEW|SEQUENCE) (?!DATA |SET |OWNED BY )(\S+) (.+) \S+$")
_TOC_BLOB: Final = re.compile(r"^\d+; 2613 \d+ BLOB ")
_EXTRAS_SQL: Final = """
SELECT n.nspname, c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') AND NOT c.relispartition
  AND n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_%%'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                  AND d.deptype IN ('a', 'i', 'e'))
ORDER BY 1, 2
"""
_DROP_KIND: Final = {"v": "VIEW", "m": "MATERIALIZED VIEW", "r": "TABLE", "p": "TABLE", "f": "FOREIGN TABLE",
                     "S": "SEQUENCE"}


@dataclass(frozen=True, slots=True)
class Tools:
    """Resolved client tools, checked against the server's major version."""

    pg_dump: Path
    pg_restore: Path
    psql: Path | None
    versions: dict[str, str]


def find_tools(server_major: int, *, restore: bool = False) -> Tools:
    """pg_dump and pg_restore (and psql for restores), each at least the server's major version (F1)."""
    names = ["pg_dump", "pg_restore"] + (["psql"] if restore else [])
    found = {name: tools.find_tool([name], vendor="postgresql", major=server_major) for name in names}
    versions = {name: tools.require_at_least(path, server_major, vendor="postgresql") for name, path in found.items()}
    return Tools(found["pg_dump"], found["pg_restore"], found.get("psql"), versions)


def dump(settings: Mapping[str, Any], found: Tools, dest: Path, *, jobs: int, lock_wait: float | None,
         meter: Meter) -> tuple[str, str]:
    """Dump the database of `settings` to `dest` (a new file or directory); returns (format, compression)."""
    fmt = "pg-directory" if jobs > 1 else "pg-custom"
    argv = [str(found.pg_dump), "--format=directory" if jobs > 1 else "--format=custom", f"--file={dest}"]
    if jobs > 1:
        argv.append(f"--jobs={jobs}")
    if lock_wait:
        argv.append(f"--lock-wait-timeout={int(lock_wait * 1000)}ms")
    argv.append(str(settings["NAME"]))
    with credentials.postgresql(settings) as creds:
        run = tools.run_tool(argv, env=tools.pg_env(creds.env), secrets=creds.secrets,
                             poll=lambda _: meter.update(bytes_on_disk(dest)))
    if run.returncode != 0:
        raise BackupError(f"pg_dump failed for database {settings['NAME']!r}: {run.last_error()}",
                          hint=_hint(run.stderr))
    return fmt, "gzip"


def _hint(stderr: str) -> str:
    text = stderr.lower()
    if "no space left" in text:
        return "Free disk space in the backup directory or point --dir elsewhere; nothing was kept."
    if "lock" in text and "timeout" in text:
        return "Another session holds a lock on a table; retry when it is done, or raise --lock-wait."
    if "version mismatch" in text:
        return "Install pg_dump of at least the server's major version."
    if "could not connect" in text or "connection to server" in text:
        return "Check that the server is running and the DATABASES settings."
    return "Nothing was kept under a final name."


def check_archive(path: Path, fmt: str, found: Tools, *, full: bool = False) -> list[str]:
    """The archive's table of contents; refuses anything pg_restore cannot read (G5).

    With `full`, pg_restore also reads every data block to nowhere (--file=/dev/null), so an archive
    truncated or damaged after its table of contents is refused before a restore touches the target (G2).
    """
    if fmt == "pg-custom":
        with open(path, "rb") as handle:
            if handle.read(5) != b"PGDMP":
                raise CorruptBackupError(f"{path.name} is not a pg_dump custom-format archive (no PGDMP header).",
                                         hint="Refusing to restore it.")
    elif not (path / "toc.dat").is_file():
        raise CorruptBackupError(f"{path.name} is not a pg_dump directory-format archive (no toc.dat).",
                                 hint="Refusing to restore it.")
    done = subprocess.run([str(found.pg_restore), "--list", str(path)], capture_output=True, text=True,
                          env=tools.pg_env({}), check=False)
    toc = done.stdout.splitlines()
    if done.returncode == 0 and full:
        done = subprocess.run([str(found.pg_restore), "--file=/dev/null", str(path)], capture_output=True, text=True,
                              env=tools.pg_env({}), check=False)
    if done.returncode != 0:
        first = (done.stderr.strip().splitlines() or ["unreadable"])[0]
        hint = "Refusing to restore it."
        if "unsupported version" in done.stderr:
            hint = (f"It was made by a newer pg_dump than this pg_restore ({found.versions.get('pg_restore', '?')});"
                    " install the newer PostgreSQL client tools to restore it. Refusing to restore it.")
        raise CorruptBackupError(f"pg_restore cannot read {path.name}: {first}", hint=hint)
    return toc if full else done.stdout.splitlines()


def large_objects_in(toc: list[str]) -> int:
    """How many large objects a `pg_restore --list` listing holds (one `BLOB` entry each, catalog 2613) (F4)."""
    return sum(1 for line in toc if _TOC_BLOB.match(line.strip()))


def archived_relations(toc: list[str]) -> set[tuple[str, str]]:
    """(schema, name) of every table, view and sequence in a `pg_restore --list` listing."""
    found = set()
    for line in toc:
        match = _TOC_RELATION.match(line.strip())
        if match:
            found.add((match[2], match[3]))
    return found


def extra_relations(connection: Any, toc: list[str]) -> list[tuple[str, str, str]]:
    """Live relations the archive does not have: (schema, name, DROP keyword)."""
    archived = archived_relations(toc)
    with connection.cursor() as cursor:
        cursor.execute(_EXTRAS_SQL)
        rows = cursor.fetchall()
    return [(schema, name, _DROP_KIND[kind]) for schema, name, kind in rows if (schema, name) not in archived]


def drop_statements(connection: Any, extras: list[tuple[str, str, str]]) -> str:
    """DROP ... IF EXISTS ... CASCADE for each extra relation, identifiers quoted by the backend."""
    quote = connection.ops.quote_name
    order = {"VIEW": 0, "MATERIALIZED VIEW": 1, "FOREIGN TABLE": 2, "TABLE": 3, "SEQUENCE": 4}
    return "".join(f"DROP {kind} IF EXISTS {quote(schema)}.{quote(name)} CASCADE;\n"
                   for schema, name, kind in sorted(extras, key=lambda e: order[e[2]]))


def restore(settings: Mapping[str, Any], found: Tools, path: Path, fmt: str, *, jobs: int, clean: bool,
            drops: str, no_owner: bool, meter: Meter, lock_wait: float | None = None, no_acl: bool = False) -> None:
    """Restore `path` into the database of `settings`; the target is untouched if it fails (jobs == 1)."""
    name = str(settings["NAME"])
    options = ["--exit-on-error"]
    if clean:
        options += ["--clean", "--if-exists"]
    if no_owner:
        options += ["--no-owner", "--no-acl"]
    elif no_acl:
        options.append("--no-acl")
    parallel = jobs > 1
    with credentials.postgresql(settings) as creds:
        env = tools.pg_env(creds.env)
        if lock_wait:
            # A session of the application holding a table lock makes the restore fail, not hang.
            env["PGOPTIONS"] = f"{env.get('PGOPTIONS', '')} -c lock_timeout={int(lock_wait * 1000)}".strip()
        if drops and not parallel:
            _restore_through_psql(found, path, name, options, drops, env, creds.secrets, meter)
            return
        if drops:
            _run_psql(found, name, drops, env, creds.secrets)
        argv = [str(found.pg_restore), *options, f"--dbname={name}"]
        argv += [f"--jobs={jobs}"] if parallel else ["--single-transaction"]
        argv.append(str(path))
        run = tools.run_tool(argv, env=env, secrets=creds.secrets,
                             poll=lambda process: meter.update(bytes_read_by(process.pid)))
    if run.returncode != 0:
        raise RestoreError(f"pg_restore failed into database {name!r}: {run.last_error()}",
                           hint="Nothing was committed." if not parallel else
                           "Parallel restores are not one transaction: restore again with --jobs 1.")


def _run_psql(found: Tools, name: str, sql: str, env: dict[str, str], secrets: tuple[str, ...]) -> None:
    assert found.psql is not None
    run = tools.run_tool([str(found.psql), "-X", "-q", "-v", "ON_ERROR_STOP=1", "--single-transaction",
                          f"--dbname={name}"], env=env, secrets=secrets, feed=lambda pipe: _write(pipe, sql))
    if run.returncode != 0:
        raise RestoreError(f"Could not drop the relations the backup does not have: {run.last_error()}",
                           hint="Nothing was restored.")


def _write(pipe: IO[bytes], text: str) -> None:
    pipe.write(text.encode())


def _restore_through_psql(found: Tools, path: Path, name: str, options: list[str], drops: str,
                          env: dict[str, str], secrets: tuple[str, ...], meter: Meter) -> None:
    """pg_restore's script, after our DROPs, in one psql transaction that stops at the first error.

    If pg_restore fails half-way, psql is killed before it reads end-of-input,
    so the transaction is never committed.
    """
    assert found.psql is not None
    with tempfile.TemporaryFile() as script_errors:
        script = subprocess.Popen([str(found.pg_restore), *[o for o in options if o != "--exit-on-error"],
                                   "--file=-", str(path)], stdout=subprocess.PIPE, stderr=script_errors, env=env,
                                  preexec_fn=tools.die_with_parent)
        moved = 0

        def feed(pipe: IO[bytes]) -> None:
            nonlocal moved
            pipe.write(drops.encode())
            assert script.stdout is not None
            while chunk := script.stdout.read(1 << 20):
                pipe.write(chunk)
                moved += len(chunk)
                meter.update(moved)
            if script.wait() != 0:
                script_errors.seek(0)
                text = tools.scrub(script_errors.read().decode("utf-8", "replace"), secrets).strip()
                raise RestoreError(f"pg_restore could not read {path.name}: {(text.splitlines() or ['?'])[0]}",
                                   hint="The transaction was rolled back; nothing changed.")

        try:
            run = tools.run_tool([str(found.psql), "-X", "-q", "-v", "ON_ERROR_STOP=1", "--single-transaction",
                                  f"--dbname={name}"], env=env, secrets=secrets, feed=feed)
        finally:
            if script.poll() is None:
                script.kill()
            script.wait()
            if script.stdout is not None:
                script.stdout.close()
    if run.returncode != 0:
        raise RestoreError(f"Restore into database {name!r} failed: {run.last_error()}",
                           hint="The transaction was rolled back; nothing changed.")


def create_database(connection: Any, name: str) -> None:
    """CREATE DATABASE name (template0, so nothing from template1 collides with the archive)."""
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE {connection.ops.quote_name(name)} TEMPLATE template0")


def drop_database(connection: Any, name: str) -> None:
    """DROP DATABASE name, ending sessions still connected to it (scratch databases only)."""
    with connection.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS {connection.ops.quote_name(name)} WITH (FORCE)")


def database_exists(connection: Any, name: str) -> bool:
    """Whether the server has a database called `name`."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
        return cursor.fetchone() is not None
