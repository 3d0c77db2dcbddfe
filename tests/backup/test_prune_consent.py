"""S10: pruning backups needs consent as restoring does: --yes, or 'yes' typed on a terminal."""

from __future__ import annotations

from datetime import timedelta

import pytest

from migration_pilot.backup import catalogue
from migration_pilot.backup.errors import ConfirmationRequiredError
from tests.backup.test_catalogue import make_backup
from tests.backup.test_retention import run_backups


def test_prune_without_consent_deletes_nothing(tmp_path):
    made = [make_backup(tmp_path / "b", age=timedelta(days=9), suffix=f"00000{i}") for i in (1, 2)]

    with pytest.raises(ConfirmationRequiredError, match=r"delete 2 backup\(s\).*Pass --yes"):
        run_backups(tmp_path / "b", "--prune", "--keep", "0")

    assert {m.id for m in catalogue.list_backups(tmp_path / "b")} == {m.id for m in made}


def test_dry_run_lists_and_yes_deletes(tmp_path):
    made = make_backup(tmp_path / "b", age=timedelta(days=9))

    listed, listed_code = run_backups(tmp_path / "b", "--prune", "--keep", "0", "--dry-run")
    kept = catalogue.list_backups(tmp_path / "b")
    deleted, deleted_code = run_backups(tmp_path / "b", "--prune", "--keep", "0", "--yes")

    assert listed_code == 0 and f"Would delete 1 backup(s) from {tmp_path / 'b'}: {made.id}." in listed
    assert [m.id for m in kept] == [made.id]
    assert deleted_code == 0 and made.id in deleted
    assert catalogue.list_backups(tmp_path / "b") == []


def test_nothing_to_prune_needs_no_consent(tmp_path):
    make_backup(tmp_path / "b", age=timedelta(0))

    out, code = run_backups(tmp_path / "b", "--prune", "--keep", "5")

    assert code == 0 and "Deleted 0 backup(s)" in out
