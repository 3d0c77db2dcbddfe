"""The backup directory: private files, atomic publication, listing and retention.

Every byte is written under a temporary name made by this process
(`.pilot-tmp-<pid>-<random>`), with mode 0600 from the first byte, then
fsynced, checksummed and renamed. The manifest is published last, so a
backup that was interrupted at any point is never listed; temporary names
left by a dead process are removed by the next backup (S4, F2).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import secrets
import shutil
import stat
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

from migration_pilot.backup.errors import BackupDirectoryError, CorruptBackupError, UnknownBackupError
from migration_pilot.backup.manifest import ID_PATTERN, Manifest

TEMP_PREFIX: Final = ".pilot-tmp-"
_TEMP_PATTERN: Final = re.compile(r"^\.pilot-tmp-(\d+)-")
_ID_CHARS: Final = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]{0,79}$")
CHUNK: Final = 1 << 20
DEFAULT_RETENTION: Final = timedelta(hours=24)
"""The runbook keeps the pre-deploy backup for 24 hours."""


def default_directory() -> Path:
    """`backup_dir` from MIGRATION_PILOT or [tool.migration_pilot], else <project root>/backups.

    Relative paths are taken from the project root (settings.BASE_DIR), so the
    same setting works from any working directory.
    """
    value, root = configured("backup_dir")
    if value is None:
        return root / "backups"
    path = Path(os.path.expanduser(str(value)))
    return path if path.is_absolute() else root / path


def default_retention() -> timedelta:
    """How long a backup is kept: `backup_retention_hours` (MIGRATION_PILOT or pyproject), else 24 hours.

    `pilot backups --prune` without --keep/--older-than deletes what is older than
    this, and `pilot backups` shows when each backup may go.
    """
    from migration_pilot.backup.errors import BadOptionError

    value, _root = configured("backup_retention_hours")
    if value is None:
        return DEFAULT_RETENTION
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise BadOptionError("backup_retention_hours", f"{value!r}; give a number of hours such as 24")
    return timedelta(hours=value)


def configured(key: str) -> tuple[Any, Path]:
    """A key from settings.MIGRATION_PILOT, else [tool.migration_pilot]; with the directory it is relative to."""
    import tomllib

    from django.conf import settings

    from migration_pilot.conf import find_pyproject, project_root

    root = project_root()
    value: Any = None
    setting = getattr(settings, "MIGRATION_PILOT", None) or {}
    if isinstance(setting, dict):
        value = setting.get(key)
    if value is None:
        pyproject = find_pyproject(root)
        if pyproject is not None:
            with contextlib.suppress(OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
                data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
                value = data.get("tool", {}).get("migration_pilot", {}).get(key)
                if value is not None:
                    root = pyproject.parent
    return value, root


def resolve_directory(directory: str | Path | None) -> Path:
    """The directory to use: the given one, else the configured default; made absolute."""
    return Path(os.path.abspath(directory if directory is not None else default_directory()))


def ensure_directory(directory: Path) -> Path:
    """Create the backup directory 0700, or check that an existing one is private.

    A directory it creates gets a `.gitignore` that ignores everything: the
    default lies inside the project, and a dump of production must never be
    committed by a `git add .`.
    """
    try:
        created = not directory.exists()
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        if created:
            (directory / ".gitignore").write_text("# Database backups: never commit them.\n*\n")
        info = os.lstat(directory)
    except PermissionError:
        raise BackupDirectoryError(str(directory), "permission denied",
                                   hint="Choose a directory you can write to with --dir or backup_dir.") from None
    except OSError as exc:
        raise BackupDirectoryError(str(directory), exc.strerror or str(exc),
                                   hint="Choose another directory with --dir or backup_dir.") from None
    if not stat.S_ISDIR(info.st_mode):
        raise BackupDirectoryError(str(directory), "not a directory (or a symlink)",
                                   hint="Point --dir or backup_dir at a real directory.")
    if info.st_mode & 0o077:
        raise BackupDirectoryError(
            str(directory), f"readable or writable by other users (mode {stat.S_IMODE(info.st_mode):04o})",
            hint=f"Backups hold all the data: run 'chmod 700 {directory}'.")
    if not os.access(directory, os.W_OK | os.X_OK):
        raise BackupDirectoryError(str(directory), "permission denied",
                                   hint="Choose a directory you can write to with --dir or backup_dir.")
    return directory


def temp_name(directory: Path, suffix: str = "") -> Path:
    """A fresh, unpredictable temporary path in `directory` (not created)."""
    return directory / f"{TEMP_PREFIX}{os.getpid()}-{secrets.token_hex(8)}{suffix}"


def create_private_file(path: Path) -> int:
    """Open a new file 0600 (whatever the umask), refusing existing names and symlinks."""
    flags = os.O_CREAT | os.O_EXCL | os.O_WRONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags, 0o600)
    os.fchmod(fd, 0o600)  # the umask may only remove bits; this is a no-op unless it cleared 0o600
    return fd


@contextlib.contextmanager
def private_umask() -> Iterator[None]:
    """umask 077 while child tools create files (pg_dump's directory format, SQLite journals)."""
    previous = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(previous)


def remove_quietly(path: Path) -> None:
    """Delete a temporary file or directory; missing is fine."""
    with contextlib.suppress(FileNotFoundError):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()


def cleanup_stale(directory: Path) -> list[Path]:
    """Remove temporary names whose writing process is gone (killed backups)."""
    removed = []
    with contextlib.suppress(FileNotFoundError):
        for entry in directory.iterdir():
            match = _TEMP_PATTERN.match(entry.name)
            if match and not process_alive(int(match[1])):
                remove_quietly(entry)
                removed.append(entry)
    return removed


def process_alive(pid: int) -> bool:
    """Whether a process with this pid exists (ours or not)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def fsync_tree(path: Path) -> None:
    """fsync a file, or every file of a directory and the directory itself."""
    if path.is_dir():
        for child in sorted(path.iterdir()):
            fsync_tree(child)
        fsync_directory(path)
        return
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_directory(directory: Path) -> None:
    """Make a rename in `directory` durable."""
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def checksum(path: Path) -> tuple[str, int]:
    """(sha256 hex, size in bytes) of a file, or of a dump directory's files in name order."""
    digest = hashlib.sha256()
    if path.is_dir() and not path.is_symlink():
        total = 0
        for child in sorted(path.iterdir()):
            sub, size = checksum(child)
            digest.update(f"{child.name}\0{size}\0{sub}\n".encode())
            total += size
        return digest.hexdigest(), total
    size = 0
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    with os.fdopen(fd, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def publish(temp: Path, final: Path) -> None:
    """Rename a finished temporary file or directory to its final name, durably."""
    if os.path.lexists(final):
        raise FileExistsError(f"{final} already exists")
    os.replace(temp, final)
    fsync_directory(final.parent)


def write_manifest(manifest: Manifest) -> None:
    """Publish the manifest atomically (0600, fsynced, renamed): the backup now exists."""
    temp = temp_name(manifest.directory, ".json")
    fd = create_private_file(temp)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(manifest.to_json())
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, manifest.manifest_path)
        fsync_directory(manifest.directory)
    except BaseException:
        remove_quietly(temp)
        raise


def list_backups(directory: str | Path | None = None) -> list[Manifest]:
    """Every usable backup in `directory`, newest first.

    Usable means: a well-formed manifest made by this tool whose data file or
    dump directory exists under its final name (not a symlink). Temporary
    names and files without a manifest are never listed.
    """
    path = resolve_directory(directory)
    found = []
    try:
        entries = sorted(path.iterdir())
    except FileNotFoundError:
        return []
    except PermissionError:
        raise BackupDirectoryError(str(path), "permission denied",
                                   hint="Run as the user that owns the backups.") from None
    for entry in entries:
        if entry.suffix != ".json" or not ID_PATTERN.match(entry.stem) or entry.is_symlink():
            continue
        try:
            manifest = Manifest.from_json(entry.read_text(encoding="utf-8"), directory=path)
        except (CorruptBackupError, OSError, UnicodeDecodeError):
            continue
        if manifest.id != entry.stem or not _is_real(manifest.path):
            continue
        found.append(manifest)
    return sorted(found, key=lambda m: (m.created_at, m.id), reverse=True)


def _is_real(path: Path) -> bool:
    try:
        info = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISREG(info.st_mode) or stat.S_ISDIR(info.st_mode)


def find_backup(id_or_prefix: str, directory: str | Path | None = None) -> Manifest:
    """The backup whose id is, or uniquely starts with, `id_or_prefix`."""
    path = resolve_directory(directory)
    value = id_or_prefix.strip()
    if not _ID_CHARS.match(value):
        raise UnknownBackupError(id_or_prefix, directory=str(path),
                                 problem="a backup id has only letters, digits, '-' and '_', and starts with a digit")
    backups = list_backups(path)
    exact = [m for m in backups if m.id == value]
    if exact:
        return exact[0]
    matches = [m for m in backups if m.id.startswith(value)]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise UnknownBackupError(id_or_prefix, directory=str(path), problem="the prefix matches several backups",
                                 candidates=[m.id for m in matches])
    raise UnknownBackupError(id_or_prefix, directory=str(path))


def check_integrity(manifest: Manifest) -> None:
    """Refuse a backup whose data no longer matches its manifest (size, then SHA-256)."""
    path = manifest.path
    if not _is_real(path):
        raise CorruptBackupError(f"Backup {manifest.id} has no data at {path}.",
                                 hint="The backup is unusable; take a new one or restore the file from a copy.")
    digest, size = checksum(path)
    if size != manifest.size:
        raise CorruptBackupError(
            f"Backup {manifest.id} is {size:,} bytes but its manifest says {manifest.size:,}:"
            " the file was truncated or changed.", hint="Refusing to use it; use another backup.")
    if digest != manifest.sha256:
        raise CorruptBackupError(
            f"Backup {manifest.id} fails its SHA-256 check (manifest {manifest.sha256[:12]}...,"
            f" file {digest[:12]}...): the file was corrupted or changed.",
            hint="Refusing to use it; use another backup.")


def delete_backup(manifest: Manifest) -> None:
    """Remove a backup: the manifest first, so it stops being listed even if the data removal fails."""
    with contextlib.suppress(FileNotFoundError):
        manifest.manifest_path.unlink()
    remove_quietly(manifest.path)
    fsync_directory(manifest.directory)


def prune_backups(directory: str | Path | None, keep: int | None, older_than: timedelta | None,
                  *, now: datetime | None = None, dry_run: bool = False) -> list[Manifest]:
    """Delete the backups no retention rule keeps (with `dry_run`, only say which); return them.

    A backup is kept when it is one of the `keep` newest of its alias, or when
    it is younger than `older_than`. With both rules, a backup must fail both
    to go; with neither, nothing is deleted.
    """
    if keep is None and older_than is None:
        return []
    moment = now or datetime.now(UTC)
    doomed = []
    position: dict[str, int] = {}
    for manifest in list_backups(directory):
        rank = position.get(manifest.alias, 0)
        position[manifest.alias] = rank + 1
        kept_by_count = keep is not None and rank < keep
        kept_by_age = older_than is not None and moment - manifest.created_at < older_than
        if not kept_by_count and not kept_by_age:
            doomed.append(manifest)
    if not dry_run:
        for manifest in doomed:
            delete_backup(manifest)
    return doomed
