"""S4: `pilot backup --help` says that a backup holds all the data and is not encrypted."""

from __future__ import annotations

from tests.backup.shop import Shop


def test_backup_help_says_the_backup_holds_every_row_unencrypted(tmp_path):
    shop = Shop("sqlite", None, str(tmp_path / "shop.sqlite3"), tmp_path)

    result = shop.manage("pilot", "backup", "--help")

    text = " ".join(result.out.split())
    assert result.code == 0, result.err
    assert "holds every row of the database, password hashes and secrets included" in text
    assert "is not encrypted" in text and "0600" in text
