"""Back up, change and delete data, restore: every table comes back exactly, on all three vendors."""

from __future__ import annotations

import json
import os
import stat
import subprocess

from tests.backup.shop import CHANGE


def test_round_trip_restores_every_table_exactly(shop):
    shop.fill()
    before = shop.snapshot()
    assert all(rows for table, (rows, _) in before.items() if table.split("_")[0] in {"customers", "orders", "billing"})
    manifest = shop.backup("--label", "before-change")
    shop.shell(CHANGE)
    assert shop.snapshot() != before

    result = shop.pilot("restore", manifest["id"], "--yes", "--discard-writes")

    assert result.code == 0, result.out + result.err
    assert shop.snapshot() == before
    assert "Migration state now:" in result.out
    assert "orders: 0006_backfill_order_reference" in result.out
    shop.shell("from customers.models import Customer; Customer.objects.create(name='after', email='a@b.c')")


def test_manifest_records_what_the_backup_holds(shop):
    manifest = shop.backup("--label", "before-deploy")

    assert manifest["label"] == "before-deploy"
    assert manifest["vendor"] == shop.vendor
    assert ["orders", "0006_backfill_order_reference"] in manifest["applied_migrations"]
    assert len(manifest["sha256"]) == 64 and manifest["size"] == os.path.getsize(manifest["path"])
    assert manifest["tool_versions"] and manifest["server_version"]
    listed = json.loads(shop.pilot("backups", "--format", "json").out)
    assert [m["id"] for m in listed] == [manifest["id"]]


def test_restore_removes_tables_created_after_the_backup(shop):
    manifest = shop.backup()
    shop.sql("CREATE TABLE made_later (id INTEGER PRIMARY KEY)")

    result = shop.pilot("restore", manifest["id"], "--yes", "--discard-writes")

    assert result.code == 0, result.out + result.err
    assert "made_later" not in shop.tables()


def test_verify_passes_on_a_sound_backup(shop):
    shop.fill(users=5, customers=20, orders=30)

    result = shop.pilot("backup", "--verify", "--format", "json")

    assert result.code == 0, result.out + result.err
    report = json.loads(result.out)["verify"]
    assert report["ok"] and report["tables"]


def test_verify_catches_a_corrupted_backup(shop):
    shop.fill(users=5, customers=20, orders=30)
    manifest = shop.backup()
    with open(manifest["path"], "r+b") as handle:
        handle.seek(manifest["size"] // 2)
        byte = handle.read(1)
        handle.seek(manifest["size"] // 2)
        handle.write(bytes([byte[0] ^ 0xFF]))

    result = shop.pilot("restore", manifest["id"], "--yes")

    assert result.code == 1
    assert "fails its SHA-256 check" in result.err
    assert result.err.count("\n") == 1


def test_backup_files_are_private(shop):
    shop.backups.mkdir(mode=0o700)
    old = os.umask(0)
    try:
        manifest = shop.backup()
    finally:
        os.umask(old)

    assert stat.S_IMODE(os.stat(shop.backups).st_mode) == 0o700
    for entry in shop.backups.iterdir():
        assert stat.S_IMODE(os.lstat(entry).st_mode) == 0o600, entry
    assert sorted(p.name for p in shop.backups.iterdir()) == sorted(
        [os.path.basename(manifest["path"]), manifest["id"] + ".json"])


def test_restore_without_yes_and_no_terminal_is_refused(shop):
    manifest = shop.backup()

    result = shop.pilot("restore", manifest["id"])

    assert result.code == 2
    assert "Pass --yes" in result.err


def test_restore_into_a_new_database(shop, tmp_path):
    shop.fill(users=3, customers=10, orders=10)
    manifest = shop.backup()
    target = str(tmp_path / "copy.sqlite3") if shop.vendor == "sqlite" else f"{shop.name}_copy"

    result = shop.pilot("restore", manifest["id"], "--yes", "--target", target, "--format", "json")

    try:
        assert result.code == 0, result.out + result.err
        payload = json.loads(result.out)
        assert payload["created_database"] is True
        assert ["orders", "0006_backfill_order_reference"] in payload["applied"]
        assert payload["pending"] == []
    finally:
        if shop.vendor != "sqlite":
            from tests.databases import admin_connection

            with admin_connection(shop.server) as conn:
                cursor = conn.cursor()
                cursor.execute(f"DROP DATABASE IF EXISTS {target}" + (" WITH (FORCE)" if shop.vendor == "postgresql" else ""))
                cursor.close()


def test_file_size_limit_fails_cleanly(shop):
    shop.fill(users=30, customers=400, orders=800)
    command = ["prlimit", "--fsize=20000", *shop.command("pilot", "backup", "--dir", str(shop.backups))]
    import subprocess

    done = subprocess.run(command, cwd=shop.cwd, env=shop.env, capture_output=True, text=True, check=False)

    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stderr.startswith("error: ") and done.stderr.count("\n") == 1
    assert "nothing was kept" in done.stderr.lower() or "file size limit" in done.stderr or "too large" in done.stderr
    assert [p.name for p in shop.backups.iterdir()] in ([], [".gitignore"])
    assert shop.pilot("backups").out.startswith("No backups")


def test_a_backup_directory_it_creates_is_ignored_by_git(shop):
    import shutil

    if shop.backups.exists():
        shutil.rmtree(shop.backups)

    shop.backup()

    assert (shop.backups / ".gitignore").read_text().splitlines()[-1] == "*"
    if shutil.which("git"):
        subprocess.run(["git", "init", "-q", str(shop.backups)], check=True)
        done = subprocess.run(["git", "status", "--porcelain", "--ignored"], cwd=shop.backups, capture_output=True,
                              text=True, check=True)
        assert [line for line in done.stdout.splitlines() if not line.startswith("!!")] == []
