"""The catalogue without a database: listing, lookup, retention, atomic publication, storage copies."""

from __future__ import annotations

import hashlib
import os
import stat
from datetime import UTC, datetime, timedelta

import pytest

from migration_pilot.backup import catalogue
from migration_pilot.backup.errors import BackupDirectoryError, CorruptBackupError, UnknownBackupError
from migration_pilot.backup.manifest import Manifest


def make_backup(directory, *, alias="default", age=timedelta(0), content=b"-- MariaDB dump\n-- Dump completed\n",
                suffix="aaaaaa"):
    directory.mkdir(mode=0o700, exist_ok=True)
    created = datetime(2030, 1, 1, tzinfo=UTC) - age
    backup_id = f"{created:%Y%m%dT%H%M%SZ}-{alias}-{suffix}"
    manifest = Manifest(id=backup_id, created_at=created, alias=alias, vendor="mysql", database="shop",
                        server_version="10.11", tool_versions={"mariadb-dump": "x"}, format="mysql-sql",
                        compression="none", size=len(content), sha256=hashlib.sha256(content).hexdigest(),
                        applied_migrations=[["shop", "0001_initial"]], directory=directory)
    manifest.path.write_bytes(content)
    catalogue.write_manifest(manifest)
    return manifest


NOW = datetime(2030, 1, 1, tzinfo=UTC)


def test_lists_newest_first(tmp_path):
    old = make_backup(tmp_path / "b", age=timedelta(days=2), suffix="000001")
    new = make_backup(tmp_path / "b", age=timedelta(hours=1), suffix="000002")

    assert [m.id for m in catalogue.list_backups(tmp_path / "b")] == [new.id, old.id]


def test_ignores_temporary_files_orphans_and_foreign_manifests(tmp_path):
    kept = make_backup(tmp_path / "b")
    (tmp_path / "b" / ".pilot-tmp-1-abc").write_bytes(b"half")
    (tmp_path / "b" / "20300101T000000Z-default-bbbbbb.sql").write_bytes(b"no manifest")
    (tmp_path / "b" / "notes.json").write_text("{}")
    (tmp_path / "b" / "20300101T000000Z-default-cccccc.json").write_text("{not json")

    assert [m.id for m in catalogue.list_backups(tmp_path / "b")] == [kept.id]


def test_manifest_without_its_file_is_not_listed(tmp_path):
    manifest = make_backup(tmp_path / "b")
    manifest.path.unlink()

    assert catalogue.list_backups(tmp_path / "b") == []


@pytest.mark.parametrize("value", ["../etc/passwd", "..", "a/b", "-rf", "x\0y", "%2e%2e%2f", "a\u2215b", ""])
def test_malformed_ids_are_refused(tmp_path, value):
    make_backup(tmp_path / "b")

    with pytest.raises(UnknownBackupError, match="backup id has only letters"):
        catalogue.find_backup(value, tmp_path / "b")


def test_unknown_and_ambiguous_ids(tmp_path):
    one = make_backup(tmp_path / "b", suffix="000001")
    make_backup(tmp_path / "b", suffix="000002")

    assert catalogue.find_backup(one.id, tmp_path / "b") == one
    with pytest.raises(UnknownBackupError, match="matches several backups"):
        catalogue.find_backup("2030", tmp_path / "b")
    with pytest.raises(UnknownBackupError, match="no backup has that id") as info:
        catalogue.find_backup("19990101", tmp_path / "b")
    assert info.value.exit_code == 2


def test_symlinked_data_is_refused(tmp_path):
    manifest = make_backup(tmp_path / "b")
    elsewhere = tmp_path / "elsewhere.sql"
    manifest.path.rename(elsewhere)
    manifest.path.symlink_to(elsewhere)

    assert catalogue.list_backups(tmp_path / "b") == []


def test_checksum_mismatch_is_refused(tmp_path):
    manifest = make_backup(tmp_path / "b")
    manifest.path.write_bytes(b"-- MariaDB dump\n-- Dump c0mpleted\n")

    with pytest.raises(CorruptBackupError, match="fails its SHA-256 check"):
        catalogue.check_integrity(manifest)


def test_prune_by_count_keeps_the_newest_per_alias(tmp_path):
    made = [make_backup(tmp_path / "b", age=timedelta(days=i), suffix=f"00000{i}") for i in range(4)]
    other = make_backup(tmp_path / "b", alias="replica", age=timedelta(days=9))

    deleted = catalogue.prune_backups(tmp_path / "b", keep=2, older_than=None, now=NOW)

    assert sorted(m.id for m in deleted) == sorted(m.id for m in made[2:])
    assert sorted(m.id for m in catalogue.list_backups(tmp_path / "b")) == sorted([made[0].id, made[1].id, other.id])
    assert not made[3].path.exists() and not made[3].manifest_path.exists()


def test_prune_by_age(tmp_path):
    young = make_backup(tmp_path / "b", age=timedelta(hours=23), suffix="000001")
    old = make_backup(tmp_path / "b", age=timedelta(hours=25), suffix="000002")

    deleted = catalogue.prune_backups(tmp_path / "b", keep=None, older_than=timedelta(hours=24), now=NOW)

    assert [m.id for m in deleted] == [old.id]
    assert [m.id for m in catalogue.list_backups(tmp_path / "b")] == [young.id]


def test_prune_keeps_what_either_rule_keeps(tmp_path):
    made = [make_backup(tmp_path / "b", age=timedelta(hours=h), suffix=f"00000{i}") for i, h in enumerate([1, 30, 40])]

    deleted = catalogue.prune_backups(tmp_path / "b", keep=2, older_than=timedelta(hours=24), now=NOW)

    assert [m.id for m in deleted] == [made[2].id]


def test_prune_with_no_rule_deletes_nothing(tmp_path):
    make_backup(tmp_path / "b", age=timedelta(days=100))

    assert catalogue.prune_backups(tmp_path / "b", keep=None, older_than=None) == []


def test_stale_temporary_files_of_dead_processes_are_removed(tmp_path):
    directory = tmp_path / "b"
    directory.mkdir(mode=0o700)
    dead = directory / ".pilot-tmp-999999999-abc"
    dead.write_bytes(b"half a dump")
    mine = catalogue.temp_name(directory)
    mine.write_bytes(b"in progress")

    catalogue.cleanup_stale(directory)

    assert not dead.exists() and mine.exists()


def test_directory_is_created_private_and_checked(tmp_path):
    made = catalogue.ensure_directory(tmp_path / "new" / "backups")
    assert stat.S_IMODE(made.stat().st_mode) == 0o700
    open_dir = tmp_path / "open"
    open_dir.mkdir()
    open_dir.chmod(0o755)

    with pytest.raises(BackupDirectoryError, match="chmod 700"):
        catalogue.ensure_directory(open_dir)


def test_private_file_ignores_the_umask_and_refuses_symlinks(tmp_path):
    old = os.umask(0)
    try:
        fd = catalogue.create_private_file(tmp_path / "f")
        os.close(fd)
    finally:
        os.umask(old)
    (tmp_path / "link").symlink_to(tmp_path / "target")

    assert stat.S_IMODE((tmp_path / "f").stat().st_mode) == 0o600
    with pytest.raises(FileExistsError):
        catalogue.create_private_file(tmp_path / "link")
    assert not (tmp_path / "target").exists()


def test_storage_round_trip(tmp_path, settings):
    from migration_pilot.backup import storage

    settings.STORAGES = {**settings.STORAGES, "backups": {
        "BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(tmp_path / "remote")}}}
    manifest = make_backup(tmp_path / "b")
    names = storage.upload(manifest, "backups")
    assert len(names) == 2

    fetched = storage.download(manifest.id, "backups", tmp_path / "local")

    assert fetched.id == manifest.id
    assert fetched.path.read_bytes() == manifest.path.read_bytes()
    assert [m.id for m in catalogue.list_backups(tmp_path / "local")] == [manifest.id]
    assert stat.S_IMODE(fetched.path.stat().st_mode) == 0o600
