"""Copy backups to and from any Django storage backend named in settings.STORAGES.

With django-storages configured (S3, GCS, Azure...), `pilot backup --storage
backups` uploads the file and its manifest, and `pilot restore ID --storage
backups` downloads them into the local backup directory first; the download
is checksummed against the manifest before it is published. Directory-format
PostgreSQL backups (--jobs > 1) stay local.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final

from migration_pilot.backup import catalogue
from migration_pilot.backup.errors import BackupError, UnknownBackupError
from migration_pilot.backup.manifest import FORMATS, ID_PATTERN, Manifest

PREFIX: Final = "migration-pilot"


def _storage(name: str) -> object:
    from django.core.files.storage import InvalidStorageError, storages

    try:
        return storages[name]
    except InvalidStorageError:
        raise BackupError(f"No storage {name!r} in settings.STORAGES.",
                          hint="Add it (e.g. a django-storages S3 backend) or pass another --storage.") from None


def upload(manifest: Manifest, storage_name: str) -> list[str]:
    """Save the backup file, then its manifest, to the storage; returns the names written."""
    from django.core.files import File

    if manifest.path.is_dir():
        raise BackupError(f"Backup {manifest.id} is a dump directory (--jobs > 1) and cannot be copied to a storage.",
                          hint="Take it with --jobs 1 to copy it.")
    storage = _storage(storage_name)
    names = []
    with open(manifest.path, "rb") as handle:
        names.append(storage.save(f"{PREFIX}/{manifest.file_name}", File(handle)))  # type: ignore[attr-defined]
    from django.core.files.base import ContentFile

    names.append(storage.save(f"{PREFIX}/{manifest.id}.json",  # type: ignore[attr-defined]
                              ContentFile(manifest.to_json().encode("utf-8"))))
    return names


def download(backup_id: str, storage_name: str, directory: str | Path | None) -> Manifest:
    """Fetch a backup from the storage into the local catalogue (checksummed before it is listed)."""
    folder = catalogue.ensure_directory(catalogue.resolve_directory(directory))
    if not ID_PATTERN.match(backup_id):
        raise UnknownBackupError(backup_id, directory=f"storage {storage_name!r}",
                                 problem="give the full backup id to fetch from a storage")
    storage = _storage(storage_name)
    name = f"{PREFIX}/{backup_id}.json"
    if not storage.exists(name):  # type: ignore[attr-defined]
        raise UnknownBackupError(backup_id, directory=f"storage {storage_name!r}")
    with storage.open(name, "rb") as handle:  # type: ignore[attr-defined]
        manifest = Manifest.from_json(handle.read().decode("utf-8"), directory=folder)
    temp = catalogue.temp_name(folder)
    fd = catalogue.create_private_file(temp)
    try:
        with os.fdopen(fd, "wb") as out, \
                storage.open(f"{PREFIX}/{backup_id}{FORMATS[manifest.format]}", "rb") as source:  # type: ignore[attr-defined]
            while chunk := source.read(catalogue.CHUNK):
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        catalogue.publish(temp, manifest.path)
    except BaseException:
        catalogue.remove_quietly(temp)
        raise
    try:
        catalogue.check_integrity(manifest)
    except BaseException:
        catalogue.remove_quietly(manifest.path)
        raise
    catalogue.write_manifest(manifest)
    return manifest
